// HBONE server: TLS 1.3 with the local workload's certificate, client certificate required (chain to the roots,
// same trust domain), ALPN h2; each HTTP/2 CONNECT stream is a tunnel handed to `onTunnel` with the peer's identity.
// Malformed peers (not TLS, bad certificates, garbage frames) only lose their own connection.
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { secureContextOptions, type WorkloadCertificate } from '../identity/manager.js';
import { parseSpiffeId, uriSans } from '../identity/spiffe.js';
import { logger } from '../log/index.js';
import { h2SessionOptions, raiseConnectionWindow } from './h2.js';

const log = logger('hbone');

/** One shared listener, not a closure per stream: a held tunnel costs no function of its own. */
function onStreamError(e: Error): void {
  log.debug('hbone stream error', { error: e.message });
}

export interface HboneTunnel {
  /** The client's SPIFFE id (URI SAN of its certificate). */
  peerIdentity: string;
  /** The CONNECT `:authority` (`ip:port`). */
  authority: string;
  headers: http2.IncomingHttpHeaders;
  /** TCP peer of the HBONE connection (the source ztunnel / waypoint). */
  remoteAddress: string;
  remotePort: number;
  /** Local address the HBONE connection arrived on. */
  localAddress: string;
  localPort: number;
  /** The HTTP/2 stream. Prefer accept()/reject(). */
  stream: http2.ServerHttp2Stream;
  /** Answers 200 (plus `headers`) and returns the stream to copy bytes with. */
  accept(headers?: Record<string, string>): http2.ServerHttp2Stream;
  /** Answers `status` (400 bad request, 401 denied, 503 upstream failure) and closes the stream. */
  reject(status: number, message?: string): void;
}

export interface HboneServerOptions {
  /** The certificate to serve; a function is called per handshake-context refresh. */
  certificate: WorkloadCertificate;
  /** Trust domain client identities must be in; defaults to the server certificate's. */
  trustDomain?: string;
  onTunnel: (tunnel: HboneTunnel) => void;
  /** A connection that has not completed its TLS handshake after this long is dropped (default 10s, Node's own is 120s). */
  handshakeTimeoutMs?: number;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

interface PeerInfo {
  identity: string;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

export class HboneServer {
  readonly server: http2.Http2SecureServer;
  private readonly peers = new WeakMap<http2.Http2Session, PeerInfo>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private trustDomain: string;
  private cert: WorkloadCertificate;
  private expiredLogged: string | undefined;

  constructor(private readonly opts: HboneServerOptions) {
    this.cert = opts.certificate;
    this.trustDomain = opts.trustDomain ?? parseSpiffeId(opts.certificate.identity)?.trustDomain ?? 'cluster.local';
    this.server = http2.createSecureServer({
      ...h2SessionOptions,
      ...secureContextOptions(opts.certificate),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
      allowHTTP1: false,
      minVersion: 'TLSv1.3',
      unknownProtocolTimeout: 1000,
      handshakeTimeout: opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    });
    // Fail closed: with an expired certificate (renewal failing) a new connection is refused before the handshake,
    // so the peer sees the connection reset at once instead of a hang or a certificate it would reject anyway.
    this.server.prependListener('connection', (sock: net.Socket) => {
      if (!this.expired()) return;
      if (this.expiredLogged !== this.cert.serial) {
        this.expiredLogged = this.cert.serial;
        log.error('hbone connection refused', { identity: this.cert.identity, error: `certificate expired at ${this.cert.notAfter.toISOString()} and no renewed one yet` });
      }
      sock.destroy();
    });
    this.server.on('secureConnection', (sock: tls.TLSSocket) => this.checkPeer(sock));
    this.server.on('tlsClientError', (err, sock) => {
      log.debug('hbone TLS handshake failed', `peer=${sock.remoteAddress}:${sock.remotePort} error="${err.message}"`);
      sock.destroy();
    });
    this.server.on('unknownProtocol', (sock) => sock.destroy());
    this.server.on('sessionError', (err) => log.debug('hbone connection error', { error: err.message }));
    this.server.on('session', (session: http2.ServerHttp2Session) => {
      session.on('error', () => undefined);
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      raiseConnectionWindow(session);
    });
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  private checkPeer(sock: tls.TLSSocket): void {
    const sans = uriSans(sock.getPeerCertificate()?.subjectaltname);
    const id = sans.map(parseSpiffeId).find((x) => x !== undefined);
    if (!id || id.trustDomain !== this.trustDomain) {
      log.warn('hbone peer rejected', `peer=${sock.remoteAddress}:${sock.remotePort} identity="${sans.join(',')}" error="trust domain mismatch or no SPIFFE identity"`);
      sock.destroy();
    }
  }

  private peerOf(session: http2.Http2Session): PeerInfo {
    let p = this.peers.get(session);
    if (!p) {
      const sock = session.socket as tls.TLSSocket;
      const sans = uriSans(sock.getPeerCertificate()?.subjectaltname);
      p = {
        identity: sans.find((s) => parseSpiffeId(s)) ?? '',
        remoteAddress: sock.remoteAddress ?? '',
        remotePort: sock.remotePort ?? 0,
        localAddress: sock.localAddress ?? '',
        localPort: sock.localPort ?? 0,
      };
      this.peers.set(session, p);
    }
    return p;
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', onStreamError);
    const method = headers[':method'];
    const reject = (status: number, message?: string) => {
      if (stream.destroyed || stream.closed) return;
      if (!stream.headersSent) stream.respond({ ':status': status }, { endStream: !message });
      if (message) stream.end(message);
    };
    if (method !== 'CONNECT') {
      reject(400, `expected method CONNECT, got ${String(method)}`);
      return;
    }
    const session = stream.session;
    if (!session) {
      stream.destroy();
      return;
    }
    const peer = this.peerOf(session);
    const tunnel: HboneTunnel = {
      peerIdentity: peer.identity,
      authority: String(headers[':authority'] ?? ''),
      headers,
      remoteAddress: peer.remoteAddress,
      remotePort: peer.remotePort,
      localAddress: peer.localAddress,
      localPort: peer.localPort,
      stream,
      accept: (extra) => {
        stream.respond({ ':status': 200, ...(extra ?? {}) });
        return stream;
      },
      reject,
    };
    try {
      this.opts.onTunnel(tunnel);
    } catch (e) {
      log.error('hbone tunnel handler failed', { error: (e as Error).message });
      reject(503);
    }
  }

  /** Serves a renewed certificate to new connections; connections already open keep theirs until they end. */
  setCertificate(cert: WorkloadCertificate): void {
    this.server.setSecureContext(secureContextOptions(cert));
    this.cert = cert;
  }

  /** The certificate new connections get. */
  get certificate(): WorkloadCertificate {
    return this.cert;
  }

  /** The served certificate has expired: new connections are refused until `setCertificate` brings a valid one. */
  expired(now = Date.now()): boolean {
    return this.cert.notAfter.getTime() <= now;
  }

  listen(port: number, host?: string): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  /** Stops accepting connections; open connections get GOAWAY and finish their streams. */
  close(): Promise<void> {
    for (const s of this.sessions) s.close();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Destroys every open connection. */
  destroy(): void {
    for (const s of this.sessions) s.destroy();
    this.server.close();
  }

  get connectionCount(): number {
    return this.sessions.size;
  }
}
