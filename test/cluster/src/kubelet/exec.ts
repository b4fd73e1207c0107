// `kubectl exec` at the kubelet: the remotecommand protocol over SPDY/3.1, as kube-apiserver speaks it to
// kubelets (the kubelet side is k8s.io/cri-streaming pkg/streaming/remotecommand; the apiserver side is
// k8s.io/apiserver pkg/util/proxy/streamtranslator.go driving client-go's SPDY executor).
//
//   POST /exec/{ns}/{pod}/{container}?command=..&command=..&input=1&output=1&error=1&tty=1
//   Connection: Upgrade / Upgrade: SPDY/3.1 / X-Stream-Protocol-Version: v5.channel.k8s.io, v4..., v3..., v2..., ...
//   -> 101 Switching Protocols, X-Stream-Protocol-Version: the first client protocol we support (v4 for client-go)
//
// Then the client opens one SPDY stream per channel, typed by the `streamtype` header: error (always), stdin,
// stdout, stderr (not with tty) and resize (tty, v3+). Once all expected streams are open the command runs; its
// output goes out on stdout/stderr, which we end (FIN) when the command is done, and then the result goes out on
// the error stream: v4 writes a metav1.Status JSON (Success, or NonZeroExitCode with an ExitCode cause), v2/v3
// write only the error text. The client closes the connection once it has read everything.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { ContainerRef, ContainerRuntime } from '../node/runtime.js';
import { runCommand, type Send } from './command.js';
import { describe } from './routes.js';
import { RstStatus } from './spdy/frames.js';
import { headerValue } from './spdy/headers.js';
import { SpdySession, type SpdyStream } from './spdy/session.js';
import { runtimeErrorCode, statusDocument } from './status.js';

export type Log = (line: string) => void;

/** Server protocols in the kubelet's order of preference (cri-streaming SupportedStreamingProtocols, less v1). */
export const SUPPORTED_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io'] as const;
export type StreamProtocol = (typeof SUPPORTED_PROTOCOLS)[number];

/** How long the client gets to open its streams after the upgrade (the kubelet's streamCreationTimeout). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;
/** How long we wait, after the result is written, for the client to close the connection itself. */
const CLOSE_GRACE_MS = 30_000;

export interface ExecOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

function flag(q: URLSearchParams, ...names: string[]): boolean {
  return names.some((n) => {
    const v = q.get(n);
    return v === '1' || v === 'true' || v === '';
  });
}

/** The kubelet reads input/output/error/tty=1 (what kube-apiserver sends); stdin/stdout/stderr=true also work. */
export function parseExecOptions(q: URLSearchParams): ExecOptions | { error: string } {
  const tty = flag(q, 'tty');
  const stdin = flag(q, 'input', 'stdin');
  const stdout = flag(q, 'output', 'stdout');
  let stderr = flag(q, 'error', 'stderr');
  if (tty && stderr) stderr = false; // a tty has one output stream
  if (!stdin && !stdout && !stderr) return { error: 'you must specify at least 1 of stdin, stdout, stderr' };
  return { stdin, stdout, stderr, tty };
}

/** X-Stream-Protocol-Version negotiation (k8s.io/streaming httpstream.Handshake): the first client protocol we know. */
export function negotiateAmong<P extends string>(
  header: string | string[] | undefined,
  supported: readonly P[],
): { protocol: P } | { status: number; error: string } {
  const values = (Array.isArray(header) ? header : header === undefined ? [] : [header])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (header === undefined) return { status: 400, error: 'unable to upgrade: header X-Stream-Protocol-Version does not exist in request' };
  if (values.length === 0) return { status: 400, error: 'unable to upgrade: header X-Stream-Protocol-Version contains no valid protocols' };
  const protocol = values.find((v): v is P => (supported as readonly string[]).includes(v));
  if (!protocol) {
    return {
      status: 403,
      error: `unable to upgrade: unable to negotiate protocol: client supports [${values.join(' ')}], server accepts [${supported.join(' ')}]`,
    };
  }
  return { protocol };
}

export const negotiate = (header: string | string[] | undefined) => negotiateAmong(header, SUPPORTED_PROTOCOLS);

const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  500: 'Internal Server Error',
  501: 'Not Implemented',
};

/** An HTTP response written straight to an upgrade socket (the HTTP server no longer owns it). */
export function writeRawResponse(socket: Socket, code: number, body: string, headers: Record<string, string | string[]> = {}): void {
  const json = body.startsWith('{');
  const lines = [
    `HTTP/1.1 ${code} ${REASON_PHRASES[code] ?? 'Error'}`,
    `Content-Type: ${json ? 'application/json' : 'text/plain; charset=utf-8'}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  for (const [k, v] of Object.entries(headers)) for (const one of [v].flat()) lines.push(`${k}: ${one}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/** A Status document as the error body of a refused upgrade (client-go shows its `message`). */
export function refuseUpgrade(socket: Socket, code: number, message: string, headers: Record<string, string | string[]> = {}): void {
  writeRawResponse(socket, code, JSON.stringify(statusDocument(code, message)), headers);
}

interface ExecStreams {
  error?: SpdyStream;
  stdin?: SpdyStream;
  stdout?: SpdyStream;
  stderr?: SpdyStream;
  resize?: SpdyStream;
}

export interface ExecContext {
  runtime: ContainerRuntime;
  log: Log;
  /** Optional pre-check, so an unknown pod/container is a 404 before the upgrade, as at a real kubelet. */
  hasContainer?: (ref: ContainerRef) => boolean | Promise<boolean>;
}

/** Handle an upgrade request for /exec. The socket is ours from here on. */
export async function handleExecUpgrade(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  ref: ContainerRef,
  url: URL,
  ctx: ExecContext,
): Promise<void> {
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  const opts = parseExecOptions(url.searchParams);
  if ('error' in opts) return refuseUpgrade(socket, 400, opts.error);
  const command = url.searchParams.getAll('command');
  if (command.length === 0) return refuseUpgrade(socket, 400, 'you must specify a command (command=...)');

  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  const connection = String(req.headers.connection ?? '').toLowerCase();
  if (!connection.includes('upgrade') || !upgrade.includes('spdy/3.1')) {
    return refuseUpgrade(socket, 400, `unable to upgrade: exec at this kubelet takes SPDY/3.1 or websocket (got Upgrade: ${req.headers.upgrade ?? 'none'})`);
  }
  const negotiated = negotiate(req.headers['x-stream-protocol-version']);
  if ('error' in negotiated) {
    const extra: Record<string, string[]> = negotiated.status === 403 ? { 'X-Accepted-Stream-Protocol-Versions': [...SUPPORTED_PROTOCOLS] } : {};
    return writeRawResponse(socket, negotiated.status, negotiated.error, extra);
  }
  if (ctx.hasContainer) {
    let known: boolean;
    try {
      known = await ctx.hasContainer(ref);
    } catch (err) {
      known = runtimeErrorCode(err) !== 404;
    }
    if (!known) return refuseUpgrade(socket, 404, `container ${describe(ref)} not found`);
  }

  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Connection: Upgrade\r\n' +
      'Upgrade: SPDY/3.1\r\n' +
      `X-Stream-Protocol-Version: ${negotiated.protocol}\r\n\r\n`,
  );
  const session = new SpdySession(socket, { role: 'server', log: ctx.log, peer });
  const streams = await collectStreams(session, opts, negotiated.protocol, head, ctx.log, peer);
  if (!streams) return;
  // Streams beyond the ones the protocol defines get a refusal rather than a client left waiting for a reply.
  session.on('stream', (extra) => extra.reset(RstStatus.REFUSED_STREAM));
  await runExec(session, streams, opts, negotiated.protocol, ref, command, ctx);
}

function expectedStreamCount(opts: ExecOptions, protocol: StreamProtocol): number {
  let n = 1; // error
  if (opts.stdin) n++;
  if (opts.stdout) n++;
  if (opts.stderr) n++;
  if (opts.tty && protocol !== 'v2.channel.k8s.io') n++; // resize
  return n;
}

function collectStreams(
  session: SpdySession,
  opts: ExecOptions,
  protocol: StreamProtocol,
  head: Buffer,
  log: Log,
  peer: string,
): Promise<ExecStreams | undefined> {
  const expected = expectedStreamCount(opts, protocol);
  const streams: ExecStreams = {};
  let received = 0;
  return new Promise((resolve) => {
    const finish = (result: ExecStreams | undefined) => {
      clearTimeout(timer);
      session.off('stream', onStream);
      session.off('close', onClose);
      resolve(result);
    };
    const onStream = (stream: SpdyStream) => {
      session.reply(stream);
      const type = headerValue(stream.headers, 'streamtype') ?? '';
      switch (type) {
        case 'error':
        case 'stdin':
        case 'stdout':
        case 'stderr':
        case 'resize':
          streams[type] = stream;
          break;
        default:
          log(`kubelet: exec from ${peer}: unexpected stream type ${JSON.stringify(type)}`);
          return;
      }
      if (++received === expected) finish(streams);
    };
    const onClose = () => finish(undefined);
    const timer = setTimeout(() => {
      log(`kubelet: exec from ${peer}: timed out waiting for the client to create streams (${received}/${expected})`);
      session.close();
      finish(undefined);
    }, STREAM_CREATION_TIMEOUT_MS);
    timer.unref();
    session.on('stream', onStream);
    session.on('close', onClose);
    session.start(head);
  });
}

async function runExec(
  session: SpdySession,
  streams: ExecStreams,
  opts: ExecOptions,
  protocol: StreamProtocol,
  ref: ContainerRef,
  command: string[],
  ctx: ExecContext,
): Promise<void> {
  const abort = new AbortController();
  let done = false;
  const onGone = () => {
    if (!done) abort.abort(new Error('client went away'));
  };
  session.on('close', onGone);
  session.on('goaway', onGone);

  // stdin: its own pass-through, ended by the client's FIN, its RST, or the connection going away.
  let stdin: PassThrough | undefined;
  if (opts.stdin && streams.stdin) {
    stdin = new PassThrough();
    streams.stdin.pipe(stdin);
  }
  // Resize events (JSON {"Width":..,"Height":..} per message) have nowhere to go without a pty: drain them.
  streams.resize?.resume();

  const toStream =
    (stream: SpdyStream | undefined): Send | undefined =>
    stream &&
    ((chunk, done) => {
      if (stream.localClosed) done();
      else stream.write(chunk, () => done());
    });
  const status = await runCommand(ctx.runtime, ctx.log, ref, command, {
    stdin,
    stdout: opts.stdout ? toStream(streams.stdout) : undefined,
    stderr: opts.stderr ? toStream(streams.stderr) : undefined,
    tty: opts.tty,
    signal: abort.signal,
    via: `spdy ${protocol}`,
  });
  done = true;
  session.off('close', onGone);
  session.off('goaway', onGone);

  await endStream(streams.stdout);
  await endStream(streams.stderr);
  if (streams.error && !streams.error.localClosed) {
    const body = protocol === 'v4.channel.k8s.io' ? JSON.stringify(status) : status.status === 'Success' ? '' : (status.message ?? '');
    streams.error.end(body === '' ? undefined : Buffer.from(body));
  }
  stdin?.end();
  if (streams.stdin) {
    // Nobody reads stdin any more: discard what still comes so the connection keeps being read.
    streams.stdin.unpipe();
    streams.stdin.resume();
  }
  closeWhenClientDone(session);
}

function endStream(stream: SpdyStream | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!stream || stream.localClosed || stream.writableEnded) return resolve();
    stream.end(() => resolve());
  });
}

/**
 * client-go closes the connection once it has read stdout, stderr and the error stream to their ends; we close
 * it ourselves only if the client has not done so in a while, or right away once it said GOAWAY.
 */
function closeWhenClientDone(session: SpdySession): void {
  if (session.closed) return;
  const timer = setTimeout(() => session.close(), CLOSE_GRACE_MS);
  timer.unref();
  const finish = () => {
    clearTimeout(timer);
    session.close();
  };
  if (session.peerGoneAway) return finish();
  session.once('goaway', finish);
  session.once('close', () => clearTimeout(timer));
}
