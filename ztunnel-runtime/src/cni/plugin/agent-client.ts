// The plugin's side of the plugin-event socket: one HTTP POST of JSON over a Unix socket, with a deadline.
// Distinguishes "nobody listens" (the agent is down: the caller falls back to the API server) from an answer.
import http from 'node:http';

/** The socket does not exist or nobody accepts on it. */
export class AgentUnreachableError extends Error {}

export interface AgentReply {
  status: number;
  body: string;
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'EACCES', 'ENOTDIR']);

export function postEvent(socketPath: string, path: string, event: unknown, timeoutMs: number): Promise<AgentReply> {
  const body = JSON.stringify(event);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (data.length < 64 * 1024) data += d;
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: data });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer from the ambit node agent at ${socketPath} within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code && UNREACHABLE.has(e.code) ? new AgentUnreachableError(`${e.code}`) : e);
    });
    req.end(body);
  });
}
