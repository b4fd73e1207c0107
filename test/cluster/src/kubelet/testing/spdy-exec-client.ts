// A remotecommand client over SPDY/3.1 that behaves like client-go's SPDY executor (the one kube-apiserver uses
// to reach kubelets): POST + Upgrade, protocol list v5..v1, streams error/stdin/stdout/stderr(/resize) opened in
// that order, each waited for; stdin copied then FIN'd; stdout/stderr read to their ends; the error stream read to
// its end and decoded; then the connection closed (RST of what is left, GOAWAY, socket end).
import { request } from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { SpdySession, type SpdyStream } from '../spdy/session.js';

export interface SpdyExecOptions {
  host: string;
  port: number;
  /** PEM: the CA that signed the kubelet's serving cert, and the client's cert/key (omit cert to send none). */
  ca: string;
  cert?: string;
  key?: string;
  /** Path and query, e.g. /exec/ns/pod/c?command=echo&command=hi&output=1&error=1 */
  path: string;
  protocols?: string[];
  /** stdin contents (then FIN), or a stream. Only sent if the query asks for input. */
  stdin?: string | Buffer | Readable;
  /** Resize messages to send on the resize stream (tty only). */
  resize?: { Width: number; Height: number }[];
  upgrade?: string;
  /** Hang up (destroy the socket) once the streams are open and stdin was written, without closing stdin. */
  hangUpAfterStreams?: boolean;
}

export interface SpdyExecResult {
  /** HTTP status of the upgrade response (101 when it worked). */
  httpStatus: number;
  /** Body of a refused upgrade. */
  body?: string;
  protocol?: string;
  stdout: string;
  stderr: string;
  /** Raw bytes of the error stream. */
  error: string;
  /** Decoded v4 status (JSON), when there was one. */
  status?: { status?: string; reason?: string; message?: string; code?: number; details?: { causes?: { reason?: string; message?: string }[] } };
  /** What kubectl would report: the exit code from a NonZeroExitCode status, 0 on Success. */
  exitCode?: number;
  /** Session-level: did the server end the connection cleanly. */
  log: string[];
}

function readAll(stream: SpdyStream | undefined): Promise<string> {
  if (!stream) return Promise.resolve('');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}

export function spdyExec(opts: SpdyExecOptions): Promise<SpdyExecResult> {
  const protocols = opts.protocols ?? ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
  const q = new URL(opts.path, 'https://x').searchParams;
  const want = (a: string, b: string) => ['1', 'true'].includes(q.get(a) ?? q.get(b) ?? '');
  const tty = want('tty', 'tty');
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
      headers: { Connection: 'Upgrade', Upgrade: opts.upgrade ?? 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ httpStatus: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), stdout: '', stderr: '', error: '', log: [] }),
      );
    });
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      const log: string[] = [];
      const protocol = String(res.headers['x-stream-protocol-version'] ?? '');
      const session = new SpdySession(socket, { role: 'client', log: (l) => log.push(l), peer: 'kubelet' });
      session.start(head);
      (async () => {
        const open = (type: string) => session.openStream({ streamtype: [type] });
        const error = await open('error');
        const stdin = want('input', 'stdin') ? await open('stdin') : undefined;
        const stdout = want('output', 'stdout') ? await open('stdout') : undefined;
        const stderr = want('error', 'stderr') && !tty ? await open('stderr') : undefined;
        const resize = tty && protocol !== 'v2.channel.k8s.io' ? await open('resize') : undefined;
        for (const r of opts.resize ?? []) resize?.write(JSON.stringify(r));
        if (opts.hangUpAfterStreams) {
          if (typeof opts.stdin === 'string' || Buffer.isBuffer(opts.stdin)) stdin?.write(opts.stdin);
          socket.destroy();
          resolve({ httpStatus: res.statusCode ?? 101, protocol, stdout: '', stderr: '', error: '', log });
          return;
        }
        if (stdin) {
          if (opts.stdin instanceof Readable) opts.stdin.pipe(stdin);
          else stdin.end(opts.stdin ?? undefined);
        }
        const [out, err, errText] = await Promise.all([readAll(stdout), readAll(stderr), readAll(error)]);
        session.close();
        const result: SpdyExecResult = { httpStatus: res.statusCode ?? 101, protocol, stdout: out, stderr: err, error: errText, log };
        if (protocol === 'v4.channel.k8s.io' && errText) {
          result.status = JSON.parse(errText) as SpdyExecResult['status'];
          if (result.status?.status === 'Success') result.exitCode = 0;
          else if (result.status?.reason === 'NonZeroExitCode') {
            const cause = result.status.details?.causes?.find((c) => c.reason === 'ExitCode');
            result.exitCode = cause ? Number(cause.message) : undefined;
          }
        } else if (errText === '') {
          result.exitCode = 0;
        }
        resolve(result);
      })().catch(reject);
    });
    req.end();
  });
}
