// What both clients of the controller's :15012 share: where it is, which roots to trust, which token to send.

import { readFile } from 'node:fs/promises';
import http2 from 'node:http2';

export const DEFAULT_CA_ADDRESS = 'https://istiod.istio-system.svc:15012';
/** Where the runtimes' pods get their projected token (audience istio-ca), as Istio mounts it. */
export const DEFAULT_TOKEN_PATH = '/var/run/secrets/tokens/istio-token';
/** Where the mesh root is mounted from the `istio-ca-root-cert` ConfigMap. */
export const DEFAULT_ROOT_CERT_PATH = '/var/run/secrets/istio/root-cert.pem';

export interface ControlPlaneTarget {
  /** `https://host:port`; default `https://istiod.istio-system.svc:15012` (env CA_ADDRESS / XDS_ADDRESS). */
  address?: string;
  /** TLS server name to verify, when the address is an IP (default: the address's host). */
  servername?: string;
  /** PEM roots to trust: a string, or a function re-read on every connection. */
  rootCert?: string | (() => string | Promise<string>);
  /** File with the PEM roots (default /var/run/secrets/istio/root-cert.pem) when `rootCert` is not given. */
  rootCertFile?: string;
  /** The bearer token: a string, or a function called on every connection (projected tokens rotate). */
  token?: string | (() => string | Promise<string>);
  /** File with the token (default /var/run/secrets/tokens/istio-token) when `token` is not given. */
  tokenFile?: string;
}

export async function resolveRoots(t: ControlPlaneTarget): Promise<string> {
  if (typeof t.rootCert === 'string') return t.rootCert;
  if (t.rootCert) return t.rootCert();
  return readFile(t.rootCertFile ?? DEFAULT_ROOT_CERT_PATH, 'utf8');
}

export async function resolveToken(t: ControlPlaneTarget): Promise<string> {
  if (typeof t.token === 'string') return t.token;
  if (t.token) return t.token();
  return (await readFile(t.tokenFile ?? DEFAULT_TOKEN_PATH, 'utf8')).trim();
}

export function targetAddress(t: ControlPlaneTarget): URL {
  const url = new URL(t.address ?? DEFAULT_CA_ADDRESS);
  if (url.protocol !== 'https:') throw new Error(`control plane address must be https://, got ${url.protocol}`);
  return url;
}

/** Opens an HTTP/2 session over TLS that trusts only the mesh roots; resolves once connected. */
export async function connectSession(t: ControlPlaneTarget): Promise<http2.ClientHttp2Session> {
  const url = targetAddress(t);
  const ca = await resolveRoots(t);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const session = http2.connect(url.origin, {
      ca,
      servername: t.servername ?? (isIpLiteral(host) ? undefined : host),
      // Let large full pushes flow without a round trip per 64 KiB.
      settings: { initialWindowSize: 4 << 20 },
    });
    const onError = (err: Error) => {
      session.destroy();
      reject(err);
    };
    session.once('error', onError);
    session.once('connect', () => {
      session.off('error', onError);
      session.setLocalWindowSize?.(16 << 20);
      resolve(session);
    });
  });
}

function isIpLiteral(h: string): boolean {
  return /^[\d.]+$/.test(h) || h.includes(':');
}

/** Sends one request on `session` and collects the JSON reply. */
export function requestJson(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: unknown,
  timeoutMs = 30_000,
): Promise<{ status: number; body: unknown; text: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', 'content-type': 'application/json', ...headers });
    const chunks: Buffer[] = [];
    let status = 0;
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`request timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('end', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      resolve({ status, body: parsed, text });
    });
    req.end(JSON.stringify(body));
  });
}
