// A port-forward client over SPDY/3.1 shaped like client-go's (tools/portforward): per forwarded connection an
// error stream (half-closed at once, read to its end) and a data stream, with port and requestID headers.
import { request } from 'node:https';
import type { Socket } from 'node:net';
import { SpdySession, type SpdyStream } from '../spdy/session.js';

export interface PortForwardConnection {
  session: SpdySession;
  /** HTTP status of the upgrade (101 when it worked) and the body of a refusal. */
  httpStatus: number;
  body?: string;
  close(): void;
}

export function spdyPortForwardConnect(opts: { host: string; port: number; ca: string; cert: string; key: string; path: string }): Promise<PortForwardConnection> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: opts.host,
      port: opts.port,
      method: 'POST',
      path: opts.path,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      servername: 'localhost',
      headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'portforward.k8s.io' },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ httpStatus: res.statusCode ?? 0, body, session: undefined as unknown as SpdySession, close: () => undefined }));
    });
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      const session = new SpdySession(socket, { role: 'client', log: () => undefined, peer: 'kubelet' });
      session.start(head);
      resolve({ httpStatus: res.statusCode ?? 101, session, close: () => session.close() });
    });
    req.end();
  });
}

function readAll(stream: SpdyStream): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}

/** One forwarded connection: send `data`, half-close, and collect what comes back and any error text. */
export async function forwardOnce(session: SpdySession, port: number, requestId: number, data: string): Promise<{ reply: string; error: string }> {
  const headers = (type: string) => ({ streamtype: [type], port: [String(port)], requestid: [String(requestId)] });
  const error = await session.openStream(headers('error'));
  error.end();
  const errorText = readAll(error);
  const dataStream = await session.openStream(headers('data'));
  const reply = readAll(dataStream);
  dataStream.end(data);
  return { reply: await reply, error: await errorText };
}
