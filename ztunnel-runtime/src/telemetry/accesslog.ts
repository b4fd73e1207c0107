// ztunnel's access log (target `access`): `connection complete` lines with fields in Istio's order.
import { levelEnabled, logger, quote } from '@ambit/mesh-api';

const log = logger('access');

export interface AccessLogEntry {
  srcAddr: string;
  srcWorkload?: string;
  srcNamespace?: string;
  /** Only when mTLS. */
  srcIdentity?: string;
  /** Next hop (e.g. `ip:15008`). */
  dstAddr: string;
  /** CONNECT authority, for HBONE. */
  dstHboneAddr?: string;
  dstService?: string;
  dstWorkload?: string;
  dstNamespace?: string;
  dstIdentity?: string;
  direction: 'outbound' | 'inbound';
  bytesSent?: number;
  bytesRecv?: number;
  durationMs?: number;
  error?: string;
}

/** The `k=v` part of an access log line: Istio's field order, addresses bare, strings quoted by the log core's rule. */
export function formatAccessFields(e: AccessLogEntry, withBytes = true): string {
  const f: string[] = [`src.addr=${e.srcAddr}`];
  if (e.srcWorkload) f.push(`src.workload=${quote(e.srcWorkload)}`);
  if (e.srcNamespace) f.push(`src.namespace=${quote(e.srcNamespace)}`);
  if (e.srcIdentity) f.push(`src.identity=${quote(e.srcIdentity)}`);
  f.push(`dst.addr=${e.dstAddr}`);
  if (e.dstHboneAddr) f.push(`dst.hbone_addr=${e.dstHboneAddr}`);
  if (e.dstService) f.push(`dst.service=${quote(e.dstService)}`);
  if (e.dstWorkload) f.push(`dst.workload=${quote(e.dstWorkload)}`);
  if (e.dstNamespace) f.push(`dst.namespace=${quote(e.dstNamespace)}`);
  if (e.dstIdentity) f.push(`dst.identity=${quote(e.dstIdentity)}`);
  f.push(`direction=${quote(e.direction)}`);
  if (withBytes) {
    f.push(`bytes_sent=${e.bytesSent ?? 0}`, `bytes_recv=${e.bytesRecv ?? 0}`, `duration=${quote(`${Math.round(e.durationMs ?? 0)}ms`)}`);
  }
  if (e.error) f.push(`error=${quote(e.error)}`);
  return f.join(' ');
}

export function logConnectionOpened(e: AccessLogEntry): void {
  if (levelEnabled('debug')) log.debug('connection opened', formatAccessFields(e, false));
}

/** INFO `connection complete` on success, ERROR with `error="…"` on failure. */
export function logConnectionComplete(e: AccessLogEntry): void {
  if (e.error) log.error('connection complete', formatAccessFields(e));
  else log.info('connection complete', formatAccessFields(e));
}

/** WARN `connection failed` for denials before a connection was established. */
export function logConnectionFailed(e: AccessLogEntry): void {
  log.warn('connection failed', `src.addr=${e.srcAddr} dst.addr=${e.dstAddr} direction=${quote(e.direction)} error=${quote(e.error ?? 'unknown')}`);
}
