// HBONE client: mTLS (TLS 1.3, ALPN h2, workload certificate) to the next hop, then an HTTP/2 CONNECT stream
// per tunnel, pooled per {source identity, expected identities, next hop, source ip}.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { secureContextOf, type WorkloadCertificate } from '../identity/manager.js';
import { uriSans } from '../identity/spiffe.js';
import { logger } from '../log/index.js';
import { poolKeyString, SessionPool, type PoolOptions } from '../pool/pool.js';
import { HboneError } from './errors.js';
import { h2SessionOptions, raiseConnectionWindow } from './h2.js';

const log = logger('hbone');

/**
 * Opens the TCP socket to the next hop. In-pod mode supplies one that connects inside the pod's netns with a mark;
 * explicit mode binds `sourceIp` (the source workload's loopback address).
 */
export type SocketFactory = (host: string, port: number, sourceIp?: string) => net.Socket;
export const defaultSocketFactory: SocketFactory = (host, port) => net.connect({ host, port, noDelay: true });
/** Binds the source IP (loopback workloads in explicit mode). */
export const bindingSocketFactory: SocketFactory = (host, port, sourceIp) =>
  net.connect({ host, port, noDelay: true, ...(sourceIp ? { localAddress: sourceIp } : {}) });

export interface HboneConnectRequest {
  /** Address of the peer's HBONE listener (usually `<pod ip>:15008`, or a waypoint's). */
  nextHop: { host: string; port: number };
  /** CONNECT `:authority`: `ip:port` of the intended target. */
  authority: string;
  /** The peer certificate's URI SAN must be one of these SPIFFE ids. */
  expectedIdentities: string[];
  /** The source workload's certificate (client certificate). */
  certificate: WorkloadCertificate;
  /** Source workload IP: part of the pool key. */
  sourceIp?: string;
  /** Extra request headers: `baggage`, `forwarded`, `traceparent`, … */
  headers?: Record<string, string>;
}

export interface HboneClientOptions extends PoolOptions {
  socketFactory?: SocketFactory;
  /** TCP+TLS+HTTP/2 establishment limit (ms); default 10s as ztunnel. */
  connectTimeoutMs?: number;
}

/** Opens one mTLS HTTP/2 session to `nextHop`, verifying the peer identity. */
export function openHboneSession(
  req: Pick<HboneConnectRequest, 'nextHop' | 'expectedIdentities' | 'certificate' | 'sourceIp'>,
  socketFactory: SocketFactory = defaultSocketFactory,
  timeoutMs = 10_000,
): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const { host, port } = req.nextHop;
    if (req.certificate.notAfter.getTime() <= Date.now()) {
      // Fail closed: never present an expired certificate.
      reject(new HboneError(`certificate for ${req.certificate.identity} expired at ${req.certificate.notAfter.toISOString()}`, 'TLS_FAILURE'));
      return;
    }
    let identityError: string | undefined;
    let raw: net.Socket;
    try {
      raw = socketFactory(host, port, req.sourceIp);
    } catch (e) {
      reject(new HboneError(`connect ${host}:${port}: ${(e as Error).message}`, 'CONNECT'));
      return;
    }
    const sock = tls.connect({
      socket: raw,
      secureContext: secureContextOf(req.certificate),
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.3',
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) => {
        const sans = uriSans(cert.subjectaltname);
        if (sans.some((s) => req.expectedIdentities.includes(s))) return undefined;
        identityError = `identity verification error: peer identity ${sans.join(',') || 'none'} is not one of [${req.expectedIdentities.join(', ')}]`;
        return new Error(identityError);
      },
    });
    let connected = false;
    const timer = setTimeout(() => fail(new HboneError(`connection to ${host}:${port} timed out`, 'TIMEOUT')), timeoutMs);
    const fail = (err: HboneError) => {
      clearTimeout(timer);
      sock.destroy();
      raw.destroy();
      reject(err);
    };
    raw.once('error', (e) => {
      if (!connected) fail(new HboneError(`connect ${host}:${port}: ${e.message}`, 'CONNECT'));
    });
    sock.once('error', (e) => {
      if (connected) return;
      if (identityError) fail(new HboneError(identityError, 'IDENTITY_ERROR'));
      else if (raw.connecting || (e as NodeJS.ErrnoException).syscall === 'connect') fail(new HboneError(`connect ${host}:${port}: ${e.message}`, 'CONNECT'));
      else fail(new HboneError(`TLS handshake with ${host}:${port} failed: ${e.message}`, 'TLS_FAILURE'));
    });
    sock.once('secureConnect', () => {
      if (sock.alpnProtocol !== 'h2') {
        fail(new HboneError(`peer ${host}:${port} did not negotiate h2`, 'H2_HANDSHAKE_FAILURE'));
        return;
      }
      const session = http2.connect(`https://${host}:${port}`, { ...h2SessionOptions, createConnection: () => sock });
      session.on('error', (e) => {
        if (connected) log.debug('hbone connection error', `peer=${host}:${port} error="${e.message}"`);
        else fail(new HboneError(`HTTP/2 handshake with ${host}:${port} failed: ${e.message}`, 'H2_HANDSHAKE_FAILURE'));
      });
      session.once('connect', () => {
        connected = true;
        clearTimeout(timer);
        raiseConnectionWindow(session);
        resolve(session);
      });
      sock.on('error', () => undefined);
    });
  });
}

/** Resolves when the CONNECT response arrives: 200 → the stream; otherwise an HboneError with the status. */
export function sendConnect(session: http2.ClientHttp2Session, authority: string, headers: Record<string, string> = {}): http2.ClientHttp2Stream {
  return session.request({ ':method': 'CONNECT', ':authority': authority, ...headers }, { endStream: false });
}

export function awaitConnectResponse(stream: http2.ClientHttp2Stream, authority: string): Promise<http2.ClientHttp2Stream> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(new HboneError(`CONNECT ${authority} failed: ${e.message}`, 'CONNECT'));
    const onClose = () => reject(new HboneError(`CONNECT ${authority}: stream closed before a response`, 'CONNECT'));
    stream.once('error', onError);
    stream.once('close', onClose);
    stream.once('response', (headers) => {
      stream.off('error', onError);
      stream.off('close', onClose);
      const status = Number(headers[':status']);
      if (status === 200) {
        resolve(stream);
        return;
      }
      stream.on('error', () => undefined);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new HboneError(`http status: ${status}`, status === 401 ? 'DENY' : 'CONNECT', status));
    });
  });
}

/**
 * HBONE client with a connection pool. `connect()` opens a tunnel and resolves, once the peer answered 200,
 * to the HTTP/2 stream: a Duplex carrying the tunnelled bytes (end() half-closes).
 */
export class HboneClient {
  private readonly pool: SessionPool;
  private readonly socketFactory: SocketFactory;
  private readonly timeoutMs: number;

  constructor(opts: HboneClientOptions = {}) {
    this.pool = new SessionPool(opts);
    this.socketFactory = opts.socketFactory ?? defaultSocketFactory;
    this.timeoutMs = opts.connectTimeoutMs ?? 10_000;
  }

  async connect(req: HboneConnectRequest): Promise<http2.ClientHttp2Stream> {
    const key = poolKeyString({
      srcIdentity: req.certificate.identity,
      dstIdentities: req.expectedIdentities,
      nextHop: `${req.nextHop.host}:${req.nextHop.port}`,
      srcIp: req.sourceIp,
    });
    // The certificate's serial is the pool generation: after a renewal, new tunnels go over new connections with
    // the new certificate, while those opened before keep their connection until they end.
    const stream = await this.pool.withStream(
      key,
      () => openHboneSession(req, this.socketFactory, this.timeoutMs),
      (session) => sendConnect(session, req.authority, req.headers),
      req.certificate.serial,
    );
    return awaitConnectResponse(stream, req.authority);
  }

  stats(): { connections: number; streams: number; keys: number } {
    return this.pool.stats();
  }

  /** Closes pooled connections gracefully (open tunnels finish). */
  close(): void {
    this.pool.close();
  }

  destroy(): void {
    this.pool.destroy();
  }
}
