// `kubectl exec` over WebSockets straight to the kubelet (remotecommand v5.channel.k8s.io, also v4 binary).
//
// kube-apiserver 1.36 proxies kubectl's WebSocket to the kubelet untranslated only for a Node that lists
// ExtendWebSocketsToKubelet in status.declaredFeatures (pkg/registry/core/pod/rest/subresources.go); otherwise it
// translates to SPDY (exec.ts). A Node may declare it, because this handler serves the same protocol as the
// apiserver's translator (k8s.io/apiserver pkg/util/proxy/websocket.go, k8s.io/streaming wsstream/conn.go):
//   - every message is binary: one channel byte (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize), then data;
//   - right after the upgrade the server sends an empty message on stdout (else stderr, else error) as "ready";
//   - v5 only: the client's [255, channel] closes that channel (end of stdin);
//   - the result is a metav1.Status JSON on the error channel, then the server closes the WebSocket.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { ContainerRef } from '../node/runtime.js';
import { runCommand, type Send } from './command.js';
import { parseExecOptions, refuseUpgrade, type ExecContext, type ExecOptions } from './exec.js';

export const WS_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const CLOSE_SIGNAL = 255;

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  maxPayload: 16 * 1024 * 1024,
  // The subprotocol from the client's list; handleWebSocketExec has checked there is one.
  handleProtocols: (offered) => WS_PROTOCOLS.find((p) => offered.has(p)) ?? false,
});

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

function requestedProtocols(req: IncomingMessage): string[] {
  return String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

export function handleWebSocketExec(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  ref: ContainerRef,
  url: URL,
  ctx: ExecContext,
): void {
  const opts = parseExecOptions(url.searchParams);
  if ('error' in opts) return refuseUpgrade(socket, 400, opts.error);
  const command = url.searchParams.getAll('command');
  if (command.length === 0) return refuseUpgrade(socket, 400, 'you must specify a command (command=...)');
  const protocol = requestedProtocols(req).find((p) => (WS_PROTOCOLS as readonly string[]).includes(p));
  if (!protocol) {
    return refuseUpgrade(socket, 400, `requested protocol(s) are not supported: [${requestedProtocols(req).join(' ')}]; supports [${WS_PROTOCOLS.join(' ')}]`);
  }
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  wss.handleUpgrade(req, socket, head, (ws) => {
    void serve(ws, protocol, opts, ref, command, ctx, peer).catch((err: Error) => {
      ctx.log(`kubelet: exec (websocket) from ${peer} failed: ${err.message}`);
      ws.terminate();
    });
  });
}

async function serve(
  ws: WebSocket,
  protocol: string,
  opts: ExecOptions,
  ref: ContainerRef,
  command: string[],
  ctx: ExecContext,
  peer: string,
): Promise<void> {
  const abort = new AbortController();
  let done = false;
  const stdin = opts.stdin ? new PassThrough() : undefined;
  const send =
    (channel: number): Send =>
    (chunk, cb) => {
      if (ws.readyState !== ws.OPEN) return cb();
      ws.send(Buffer.concat([Buffer.from([channel]), chunk]), { binary: true }, () => cb());
    };

  ws.on('message', (data: RawData, isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!isBinary || buf.length === 0) return;
    const channel = buf[0]!;
    if (channel === CLOSE_SIGNAL && protocol === 'v5.channel.k8s.io') {
      if (buf[1] === STDIN) stdin?.end();
      return;
    }
    if (channel === STDIN && stdin && !stdin.writableEnded) {
      if (!stdin.write(buf.subarray(1))) {
        ws.pause();
        stdin.once('drain', () => ws.resume());
      }
    }
    // RESIZE ({"Width":..,"Height":..}) has nowhere to go without a pty; unknown channels are ignored, as wsstream does.
  });
  ws.on('error', (err) => ctx.log(`kubelet: exec (websocket) from ${peer}: ${err.message}`));
  ws.on('close', () => {
    stdin?.end();
    if (!done) abort.abort(new Error('client went away'));
  });

  // "Ready": an empty message on the first output channel the client asked for.
  const ready = opts.stdout ? STDOUT : opts.stderr ? STDERR : ERROR;
  ws.send(Buffer.from([ready]), { binary: true });

  const status = await runCommand(ctx.runtime, ctx.log, ref, command, {
    stdin,
    stdout: opts.stdout ? send(STDOUT) : undefined,
    stderr: opts.stderr ? send(STDERR) : undefined,
    tty: opts.tty,
    signal: abort.signal,
    via: `websocket ${protocol}`,
  });
  done = true;
  stdin?.end();
  if (ws.readyState === ws.OPEN) {
    await new Promise<void>((resolve) => send(ERROR)(Buffer.from(JSON.stringify(status)), resolve));
    ws.close(1000);
  }
}
