// Health probes of the control plane endpoints.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

export interface TlsClient {
  ca?: string;
  cert?: string;
  key?: string;
  /** Accept any serving certificate (the component's self-signed one). */
  insecure?: boolean;
}

/** GET `url`; resolves the status code and body, rejects on connection errors. */
export function get(url: string, tls: TlsClient = {}, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req =
      u.protocol === 'https:'
        ? httpsRequest(u, { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !tls.insecure, timeout: timeoutMs })
        : httpRequest(u, { timeout: timeoutMs });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs}ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function isOk(url: string, tls: TlsClient = {}): Promise<boolean> {
  try {
    return (await get(url, tls)).status === 200;
  } catch {
    return false;
  }
}

/** Which of `list` accept TCP connections on 127.0.0.1. */
export async function busyPorts(list: number[]): Promise<number[]> {
  const probe = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.setTimeout(1000);
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('timeout', () => (s.destroy(), resolve(false)));
      s.once('error', () => resolve(false));
    });
  const res = await Promise.all(list.map(probe));
  return list.filter((_, i) => res[i]);
}
