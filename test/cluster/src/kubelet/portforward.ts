// `kubectl port-forward` at the kubelet: POST /portForward/{ns}/{pod}, SPDY/3.1 with protocol
// portforward.k8s.io (k8s.io/cri-streaming pkg/streaming/portforward/httpstream.go). kubectl 1.36 tunnels SPDY
// inside a WebSocket (subprotocol SPDY/3.1+portforward.k8s.io, binary messages carrying the raw SPDY bytes;
// client-go tools/portforward/tunneling_dialer.go). kube-apiserver unwraps that and dials the kubelet with plain
// SPDY, unless the Node declares ExtendWebSocketsToKubelet: then the tunnel reaches us as is, and we serve the
// same SPDY session over it.
//
// Per forwarded connection the client opens two streams with headers `port`, `requestID` and `streamType`:
// `error` (which it half-closes at once and reads to its end) and `data`. Once both are there we connect to the
// port inside the pod (runtime.portForward) and splice the data stream to it; a failure is written as text on
// the error stream and both streams are reset. Either side's end is passed on as a half-close; when the pod side
// is done we FIN data and error streams.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { ContainerRuntime } from '../node/runtime.js';
import { negotiateAmong, refuseUpgrade, writeRawResponse } from './exec.js';
import { RstStatus } from './spdy/frames.js';
import { headerValue } from './spdy/headers.js';
import { SpdySession, type SpdyStream } from './spdy/session.js';
import { errorMessage } from './status.js';

export type Log = (line: string) => void;

export const PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io'] as const;
export const PORT_FORWARD_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';

// ws rejects "SPDY/3.1+portforward.k8s.io" as a subprotocol ('/' is not a token character in RFC 6455's grammar),
// so the header is taken off the request before ws sees it and the choice is added to the 101 here.
const tunnelRequests = new WeakSet<IncomingMessage>();
const tunnels = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
tunnels.on('headers', (headers, req) => {
  if (tunnelRequests.has(req)) headers.push(`Sec-WebSocket-Protocol: ${PORT_FORWARD_TUNNEL_PROTOCOL}`);
});
const PAIR_TIMEOUT_MS = 30_000;

interface Pair {
  id: string;
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

export function handlePortForwardUpgrade(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  pod: { namespace: string; pod: string },
  runtime: ContainerRuntime,
  log: Log,
): void {
  if (!runtime.portForward) return refuseUpgrade(socket, 501, 'port forwarding is not supported by this node');
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  if (upgrade === 'websocket') {
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(PORT_FORWARD_TUNNEL_PROTOCOL)) {
      return refuseUpgrade(socket, 400, `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${PORT_FORWARD_TUNNEL_PROTOCOL}]`);
    }
    delete req.headers['sec-websocket-protocol'];
    tunnelRequests.add(req);
    tunnels.handleUpgrade(req, socket, head, (ws) => {
      const tunnel = createWebSocketStream(ws);
      tunnel.on('error', () => undefined); // the peer going away; the session sees the close
      servePortForward(tunnel as unknown as Socket, Buffer.alloc(0), pod, runtime, log, peer, 'websocket tunnel');
    });
    return;
  }
  if (!String(req.headers.connection ?? '').toLowerCase().includes('upgrade') || !upgrade.includes('spdy/3.1')) {
    return refuseUpgrade(socket, 400, `unable to upgrade: port forwarding at this kubelet takes SPDY/3.1 (got Upgrade: ${req.headers.upgrade ?? 'none'})`);
  }
  const negotiated = negotiateAmong(req.headers['x-stream-protocol-version'], PORT_FORWARD_PROTOCOLS);
  if ('error' in negotiated) {
    const extra: Record<string, string[]> = negotiated.status === 403 ? { 'X-Accepted-Stream-Protocol-Versions': [...PORT_FORWARD_PROTOCOLS] } : {};
    return writeRawResponse(socket, negotiated.status, negotiated.error, extra);
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
      `X-Stream-Protocol-Version: ${negotiated.protocol}\r\n\r\n`,
  );
  servePortForward(socket, head, pod, runtime, log, peer, 'spdy');
}

/** The port-forward SPDY session, over the upgraded socket or over a WebSocket tunnel. */
function servePortForward(
  socket: Socket,
  head: Buffer,
  pod: { namespace: string; pod: string },
  runtime: ContainerRuntime,
  log: Log,
  peer: string,
  via: string,
): void {
  const forward = runtime.portForward!.bind(runtime);
  const where = `${pod.namespace}/${pod.pod}`;
  const session = new SpdySession(socket, { role: 'server', log, peer });
  const pairs = new Map<string, Pair>();
  const open = new Set<Duplex>();

  const fail = (pair: Pair, message: string) => {
    log(`kubelet: port-forward ${where}: ${message}`);
    if (pair.error && !pair.error.localClosed) pair.error.end(Buffer.from(message));
    pair.data?.reset(RstStatus.CANCEL);
    pair.error?.reset(RstStatus.CANCEL);
  };

  const start = async (pair: Pair, port: number) => {
    const data = pair.data!;
    const error = pair.error!;
    error.resume(); // the client half-closes it right away; nothing to read
    let upstream: Duplex;
    try {
      upstream = (await forward({ namespace: pod.namespace, pod: pod.pod }, port)) as Duplex;
    } catch (err) {
      return fail(pair, `error forwarding port ${port} to pod ${where}: ${errorMessage(err)}`);
    }
    if (session.closed) {
      upstream.destroy();
      return;
    }
    open.add(upstream);
    log(`kubelet: port-forward ${where} port ${port} (${via}, request ${pair.id})`);
    let upstreamFailed = false;
    upstream.on('error', (err: Error) => {
      upstreamFailed = true;
      fail(pair, `error forwarding port ${port} to pod ${where}: ${err.message}`);
    });
    upstream.on('close', () => {
      open.delete(upstream);
      if (!upstreamFailed) {
        if (!data.localClosed && !data.writableEnded) data.end();
        if (!error.localClosed && !error.writableEnded) error.end();
      }
    });
    data.pipe(upstream); // the client's FIN half-closes the connection into the pod
    upstream.pipe(data, { end: false });
    upstream.on('end', () => {
      if (!data.localClosed && !data.writableEnded) data.end();
    });
    data.on('close', () => {
      // Reset by the client (or the connection is gone): drop the connection into the pod.
      if (data.resetStatus !== undefined || session.closed) upstream.destroy();
    });
  };

  session.on('stream', (stream: SpdyStream) => {
    const portText = headerValue(stream.headers, 'port') ?? '';
    const port = Number(portText);
    const type = headerValue(stream.headers, 'streamtype');
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535 || (type !== 'error' && type !== 'data')) {
      log(`kubelet: port-forward ${where}: refused a stream with port ${JSON.stringify(portText)} and streamType ${JSON.stringify(type)}`);
      stream.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    session.reply(stream);
    // Old clients send no requestID: the data stream follows its error stream (ids two apart).
    const id = headerValue(stream.headers, 'requestid') ?? String(type === 'error' ? stream.id : stream.id - 2);
    let pair = pairs.get(id);
    if (!pair) {
      const created: Pair = {
        id,
        timer: setTimeout(() => {
          pairs.delete(id);
          fail(created, `timed out waiting for the streams of request ${id}`);
        }, PAIR_TIMEOUT_MS),
      };
      created.timer.unref();
      pair = created;
      pairs.set(id, pair);
    }
    if (pair[type]) {
      fail(pair, `error processing stream for request ${id}: ${type} stream already assigned`);
      return;
    }
    pair[type] = stream;
    if (pair.error && pair.data) {
      clearTimeout(pair.timer);
      pairs.delete(id);
      void start(pair, port);
    }
  });
  session.on('close', () => {
    for (const p of pairs.values()) clearTimeout(p.timer);
    for (const u of open) u.destroy();
  });
  session.start(head);
}
