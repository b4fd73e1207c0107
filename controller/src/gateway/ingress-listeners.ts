// Which listeners of a class `istio` Gateway can serve, and why the others cannot (pure): protocol, conflicts with
// other listeners, TLS certificates (Secrets, ReferenceGrants) and allowed route kinds, with the listener conditions
// Istio writes (conversion.go buildListener/buildTLS, conditions.go generateSupportedKinds). The Gateway status and
// the gateway's config both read this one answer, so a listener reported bad is never sent, and one sent is never
// reported bad.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { IngressListener, TlsCertificate } from '@ambit/mesh-api';
import type { Condition, KubeObject } from '../kube/resources.js';
import { GATEWAY_GROUP } from '../kube/resources.js';
import { MSG, PROTOCOL_HBONE } from './constants.js';
import { cond } from './status.js';
import type { Gateway, Listener } from './types.js';

export interface IngressListenerContext {
  /** `kubernetes.io/tls` Secrets (any namespace). */
  secrets: KubeObject[];
  referenceGrants: KubeObject[];
}

export interface RouteKind {
  group: string;
  kind: string;
}

export interface ResolvedListener {
  listener: Listener;
  supportedKinds: RouteKind[];
  /** Conditions without lastTransitionTime, sorted by type. */
  conditions: Condition[];
  /** Set when the listener is sent to the gateway (routes still empty: attachment fills them). */
  ingress?: IngressListener;
  /** False when the listener itself is refused (Accepted False): the Gateway reports ListenersNotValid. */
  accepted: boolean;
}

interface TlsConfig {
  mode?: string;
  certificateRefs?: Array<{ group?: string; kind?: string; name?: string; namespace?: string }>;
}

interface Problem {
  reason: string;
  message: string;
}

const SUPPORTED = new Set(['HTTP', 'HTTPS', 'TLS']);
const KNOWN = new Set(['HTTP', 'HTTPS', 'TLS', 'TCP', PROTOCOL_HBONE]);

/** Istio's listenerProtocolToIstio error, for protocols this gateway does not serve. */
function protocolProblem(p: string): string | undefined {
  if (SUPPORTED.has(p)) return undefined;
  if (p === PROTOCOL_HBONE) return `protocol "${p}" is only supported for waypoint proxies`;
  const up = p.toUpperCase();
  if (up !== p && KNOWN.has(up)) return `protocol "${p}" is unsupported. hint: "${up}" (uppercase) may be supported`;
  return `protocol "${p}" is unsupported`;
}

const tlsOf = (l: Listener): TlsConfig | undefined => (l as Listener & { tls?: TlsConfig }).tls;

/** A TLS listener is served only in mode Passthrough (TLSRoute); one that terminates (TLSRoute mode Terminate, TCPRoute) is not. */
function tlsModeProblem(l: Listener): string | undefined {
  if (l.protocol !== 'TLS') return undefined;
  const mode = tlsOf(l)?.mode ?? 'Terminate';
  return mode === 'Passthrough' ? undefined : `TLS mode ${mode} is not supported on a listener of protocol TLS (only Passthrough)`;
}

/** Route kinds a listener of this protocol takes, narrowed by `allowedRoutes.kinds`; `valid` false if some asked kind is not one. */
export function supportedKinds(l: Listener): { kinds: RouteKind[]; valid: boolean } {
  const k = (kind: string): RouteKind => ({ group: GATEWAY_GROUP, kind });
  let supported: RouteKind[] = [];
  if (l.protocol === 'HTTP' || l.protocol === 'HTTPS') supported = [k('HTTPRoute'), k('GRPCRoute')];
  else if (l.protocol === 'TLS') supported = tlsModeProblem(l) ? [] : [k('TLSRoute')];
  else if (l.protocol === 'TCP') supported = [k('TCPRoute')];
  const asked = l.allowedRoutes?.kinds ?? [];
  if (!asked.length) return { kinds: supported, valid: true };
  const kinds = supported.filter((s) => asked.some((a) => a.kind === s.kind && (a.group ?? GATEWAY_GROUP) === s.group));
  return { kinds, valid: kinds.length === asked.length };
}

const refString = (r: { group?: string; kind?: string; name?: string; namespace?: string }): string => `${r.group ?? ''}/${r.kind ?? ''}/${r.name ?? ''}.${r.namespace ?? ''}`;

function grantAllowsSecret(g: KubeObject, gwNs: string, secretNs: string, name: string): boolean {
  if (g.metadata.namespace !== secretNs) return false;
  const spec = ((g as { spec?: unknown }).spec ?? {}) as { from?: Array<{ group?: string; kind?: string; namespace?: string }>; to?: Array<{ group?: string; kind?: string; name?: string }> };
  return (
    (spec.from ?? []).some((f) => f.group === GATEWAY_GROUP && f.kind === 'Gateway' && f.namespace === gwNs) &&
    (spec.to ?? []).some((t) => (t.group ?? '') === '' && t.kind === 'Secret' && (!t.name || t.name === name))
  );
}

const decode = (v: unknown): string | undefined => (typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : undefined);

/** The PEM pair of a `kubernetes.io/tls` Secret, or why it is not one (never the key itself). */
export function certificateOf(secret: KubeObject): TlsCertificate | string {
  const data = ((secret as { data?: Record<string, unknown> }).data ?? {}) as Record<string, unknown>;
  const certChain = decode(data['tls.crt']);
  const privateKey = decode(data['tls.key']);
  if (!certChain) return 'found secret, but didn\'t have expected keys (tls.crt and tls.key)';
  if (!privateKey) return 'found secret, but didn\'t have expected keys (tls.crt and tls.key)';
  try {
    const cert = new X509Certificate(certChain);
    const key = createPrivateKey(privateKey);
    if (!cert.checkPrivateKey(key)) return 'the certificate is malformed: private key does not match public key';
  } catch (err) {
    return `the certificate is malformed: ${(err as Error).message.split('\n')[0]}`;
  }
  return { certChain, privateKey };
}

function resolveTls(l: Listener, gw: Gateway, ctx: IngressListenerContext): { tls?: IngressListener['tls']; problem?: Problem } {
  const tls = tlsOf(l);
  if (l.protocol === 'HTTP') return {};
  if (!tls) return { problem: { reason: 'InvalidCertificateRef', message: `listener protocol ${l.protocol} requires tls` } };
  const mode = tls.mode ?? 'Terminate';
  if (mode === 'Passthrough') return { tls: { mode: 'Passthrough', certificates: [] } };
  const refs = tls.certificateRefs ?? [];
  if (refs.length > 2) return { problem: { reason: 'InvalidCertificateRef', message: 'TLS mode can only support up to 2 server certificates' } };
  if (!refs.length) return { problem: { reason: 'InvalidCertificateRef', message: 'TLS mode Terminate requires a certificateRef' } };
  const gwNs = gw.metadata.namespace!;
  const certificates: TlsCertificate[] = [];
  const problems: Problem[] = [];
  for (const ref of refs) {
    if ((ref.group ?? '') !== '' || (ref.kind ?? 'Secret') !== 'Secret') {
      problems.push({ reason: 'InvalidCertificateRef', message: `invalid certificate reference ${refString(ref)}, only secret is allowed` });
      continue;
    }
    const ns = ref.namespace ?? gwNs;
    const secret = ctx.secrets.find((s) => s.metadata.namespace === ns && s.metadata.name === ref.name);
    if (!secret) {
      problems.push({ reason: 'InvalidCertificateRef', message: `invalid certificate reference ${refString(ref)}, secret ${ns}/${ref.name} not found` });
      continue;
    }
    const cert = certificateOf(secret);
    if (typeof cert === 'string') {
      problems.push({ reason: 'InvalidCertificateRef', message: `invalid certificate reference ${refString(ref)}, ${cert}` });
      continue;
    }
    if (ns !== gwNs && !ctx.referenceGrants.some((g) => grantAllowsSecret(g, gwNs, ns, ref.name ?? ''))) {
      problems.push({ reason: 'RefNotPermitted', message: `certificateRef ${ref.name}/${ns} not accessible to a Gateway in namespace "${gwNs}" (missing a ReferenceGrant?)` });
      continue;
    }
    certificates.push(cert);
  }
  if (!certificates.length) return { problem: { reason: problems[0].reason, message: problems.map((p) => p.message).join('; ') } };
  return { tls: { mode: 'Terminate', certificates } };
}

const hostnameKey = (l: Listener): string => l.hostname ?? '';

/** Per listener: the listener that makes it conflicted, if any (the earlier listener on a port wins). */
function conflicts(listeners: Listener[]): Map<string, Problem> {
  const out = new Map<string, Problem>();
  listeners.forEach((l, i) => {
    for (const other of listeners.slice(0, i)) {
      if (other.port !== l.port || out.has(other.name)) continue;
      if (other.protocol !== l.protocol) {
        out.set(l.name, { reason: 'ProtocolConflict', message: `Listener ${other.name} uses protocol ${other.protocol} on port ${l.port}` });
        return;
      }
      if (hostnameKey(other) === hostnameKey(l)) {
        out.set(l.name, { reason: 'HostnameConflict', message: `Listener ${other.name} uses the same hostname on port ${l.port}` });
        return;
      }
    }
  });
  return out;
}

/** Every listener of `gw` with its status, and the IngressListener of each one the gateway serves. */
export function resolveIngressListeners(gw: Gateway, ctx: IngressListenerContext): ResolvedListener[] {
  const gen = gw.metadata.generation;
  const listeners = gw.spec?.listeners ?? [];
  const conflicted = conflicts(listeners);
  return listeners.map((l) => {
    let accepted = cond('Accepted', 'True', 'Accepted', MSG.noErrors, gen);
    let programmed = cond('Programmed', 'True', 'Programmed', MSG.noErrors, gen);
    let resolvedRefs = cond('ResolvedRefs', 'True', 'ResolvedRefs', MSG.noErrors, gen);
    let conflictedCond = cond('Conflicted', 'False', 'NoConflicts', MSG.noErrors, gen);
    let serves = true;
    const proto = protocolProblem(l.protocol);
    const tls = proto ? {} : resolveTls(l, gw, ctx);
    if (tls.problem) {
      resolvedRefs = cond('ResolvedRefs', 'False', tls.problem.reason, tls.problem.message, gen);
      programmed = cond('Programmed', 'False', 'Invalid', 'Bad TLS configuration', gen);
      serves = false;
    }
    const mode = proto ? undefined : tlsModeProblem(l);
    if (mode) {
      accepted = cond('Accepted', 'False', 'UnsupportedValue', mode, gen);
      programmed = cond('Programmed', 'False', 'Invalid', mode, gen);
      serves = false;
    }
    if (proto) {
      accepted = cond('Accepted', 'False', 'UnsupportedProtocol', proto, gen);
      programmed = cond('Programmed', 'False', 'Invalid', proto, gen);
      serves = false;
    }
    const c = conflicted.get(l.name);
    if (c) {
      conflictedCond = cond('Conflicted', 'True', c.reason, c.message, gen);
      programmed = cond('Programmed', 'False', 'Invalid', c.message, gen);
      serves = false;
    }
    const kinds = supportedKinds(l);
    if (!kinds.valid) resolvedRefs = cond('ResolvedRefs', 'False', 'InvalidRouteKinds', 'Invalid route kinds', gen);
    const out: ResolvedListener = { listener: l, supportedKinds: kinds.kinds, conditions: [accepted, conflictedCond, programmed, resolvedRefs], accepted: !proto && !mode };
    if (serves) {
      out.ingress = {
        name: l.name,
        parent: { group: GATEWAY_GROUP, namespace: gw.metadata.namespace!, name: gw.metadata.name! },
        port: l.port,
        targetPort: l.port,
        protocol: l.protocol as IngressListener['protocol'],
        ...(l.hostname ? { hostnames: [l.hostname] } : {}),
        ...(tls.tls ? { tls: tls.tls } : {}),
        routes: [],
      };
    }
    return out;
  });
}
