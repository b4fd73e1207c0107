// h2c and HTTP Upgrade through the waypoint, with real mTLS HBONE on both legs (loopback): clients speak HTTP/2
// with prior knowledge, HTTP/1.1 or WebSocket inside an HBONE tunnel to the waypoint; the waypoint forwards over
// HBONE to a destination "ztunnel" whose app answers HTTP/1.1 or HTTP/2, whichever it is spoken to.

import test from 'ava';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import http2 from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import type { K8sObject } from '@ambit/plugin-sdk';
import { CertificateManager, createRootCA, HboneClient, HboneServer, LocalCA, type WorkloadCertificate } from '@ambit/mesh-api';
import { request } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import { detectProtocol, drainWaypoint, H2_PREFACE, protocolOfHead, HboneConnector, HboneTermination, StaticConfigSource, StreamDuplex, upstreamProtocol, Waypoint } from '../src/index.js';
import { InMemoryMeshState } from '@ambit/plugin-sdk';
import { service, startWaypoint, workload } from './helpers.js';

const WAYPOINT_ID = 'spiffe://cluster.local/ns/default/sa/waypoint';
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const APP = 'spiffe://cluster.local/ns/default/sa/app';
const gwRef = { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' };
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };

// Services (VIP:port -> target port on the one app workload): web (HTTP/1.1), web-v2 (HTTP/1.1, target 9081),
// greeter (gRPC), plain (undeclared).
const WEB = '10.96.0.40:9080';
const GREETER = '10.96.0.42:50051';
const PLAIN = '10.96.0.43:8080';

function mesh() {
  const web = { ...service('web', '10.96.0.40', { 9080: 9080 }), appProtocols: { '9080': 'HTTP11' as const } };
  const webV2 = { ...service('web-v2', '10.96.0.41', { 9080: 9081 }), appProtocols: { '9080': 'HTTP11' as const } };
  const greeter = { ...service('greeter', '10.96.0.42', { 50051: 50051 }), appProtocols: { '50051': 'GRPC' as const } };
  const plain = service('plain', '10.96.0.43', { 8080: 8080 });
  return {
    services: [web, webV2, greeter, plain],
    workloads: [
      workload('app-0', '127.0.0.1', 'app', {
        'default/web.default.svc.cluster.local': { 9080: 9080 },
        'default/web-v2.default.svc.cluster.local': { 9080: 9081 },
        'default/greeter.default.svc.cluster.local': { 50051: 50051 },
        'default/plain.default.svc.cluster.local': { 8080: 8080 },
      }, { protocol: 'HBONE' }),
    ],
  };
}

const RESOURCES: K8sObject[] = [
  {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'deny-private', namespace: 'default' },
    spec: { targetRef: gwRef, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/private*', '/echo.Echo/Forbidden'] } }] }] },
  },
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'web', port: 9080 }],
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/v2' } }], backendRefs: [{ name: 'web-v2', port: 9080 }] },
        { backendRefs: [{ name: 'web', port: 9080 }] },
      ],
    },
  },
];

/** What the app answers to a plain request: which port and HTTP version it was reached on, and the request. */
interface Seen {
  app: string;
  httpVersion: string;
  method: string;
  url: string;
  headers: Record<string, unknown>;
}

/** gRPC message framing: 1 byte compressed flag, 4 bytes length, payload. */
function frame(text: string): Buffer {
  const p = Buffer.from(text);
  const b = Buffer.alloc(5 + p.length);
  b.writeUInt32BE(p.length, 1);
  p.copy(b, 5);
  return b;
}

function messages(buf: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i + 5 <= buf.length; ) {
    const n = buf.readUInt32BE(i + 1);
    out.push(buf.subarray(i + 5, i + 5 + n).toString());
    i += 5 + n;
  }
  return out;
}

/** The destination app behind its "ztunnel": HTTP/1.1 or HTTP/2 (sniffed), a gRPC-style Echo service, WebSocket echo. */
function destinationApp() {
  const describe = (port: string, req: { httpVersion: string; method?: string; url?: string; headers: Record<string, unknown> }): Seen => ({
    app: port === '9081' ? 'web-v2' : `app:${port}`,
    httpVersion: req.httpVersion,
    method: req.method ?? '',
    url: req.url ?? '',
    headers: req.headers,
  });
  const portOf = (req: IncomingMessage | http2.Http2ServerRequest) => String((req.socket as unknown as { localPort?: number }).localPort ?? '');
  const h1 = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-app': 'h1' });
      res.end(JSON.stringify(describe(portOf(req), req)));
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  h1.on('upgrade', (req, socket, head) => {
    if (req.url === '/not-ws') {
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 11\r\nconnection: close\r\n\r\nnot for ws\n');
      return;
    }
    wss.handleUpgrade(req, socket as never, head, (ws) => ws.on('message', (m, binary) => ws.send(binary ? m : `echo:${String(m)}`, { binary })));
  });
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    const port = String((stream.session?.socket as unknown as { localPort?: number }).localPort ?? '');
    if (path === '/echo.Echo/Fail') {
      // gRPC trailers-only: the status in the only HEADERS frame, which ends the stream.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no such greeting' }, { endStream: true });
      return;
    }
    if (path === '/echo.Echo/Chat') {
      // Bidirectional streaming, ping-pong: each reply goes out only once the request's next message arrived,
      // so the exchange completes only if neither direction is buffered by the waypoint.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-te': String(headers.te) }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'bye', 'x-checksum': 'abc123' }));
      let buf = Buffer.alloc(0);
      stream.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        for (;;) {
          if (buf.length < 5) return;
          const n = buf.readUInt32BE(1);
          if (buf.length < 5 + n) return;
          const msg = buf.subarray(5, 5 + n).toString();
          buf = buf.subarray(5 + n);
          stream.write(frame(`pong:${msg}`));
        }
      });
      stream.on('end', () => stream.end());
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-app': 'h2' });
    stream.resume();
    const seen = describe(port, { httpVersion: '2.0', method: String(headers[':method']), url: path, headers: { ...headers } });
    stream.end(JSON.stringify(seen));
  });
  h2.on('sessionError', () => undefined);
  return {
    serve(conn: Duplex & { localPort?: number }) {
      void detectProtocol(conn, 10_000).then((kind) => {
        if (kind === 'h2') h2.emit('connection', conn);
        else if (kind === 'http1') h1.emit('connection', conn);
        conn.resume();
      });
    },
    close() {
      h1.closeAllConnections();
      for (const c of wss.clients) c.terminate();
    },
  };
}

interface Rig {
  waypoint: Waypoint;
  accessLog: string[];
  /** Destination authorities the waypoint opened HBONE tunnels to, with the identity it presented. */
  upstreamTunnels: Array<{ peer: string; authority: string }>;
  tunnel(authority: string): Promise<StreamDuplex>;
  h2(authority: string): Promise<http2.ClientHttp2Session>;
  /** SIGTERM's drain (HBONE termination and waypoint together). */
  drain(graceMs: number): Promise<void>;
  close(): Promise<void>;
}

async function rig(): Promise<Rig> {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const [wpCert, sleepCert, appCert] = await Promise.all([certs.get(WAYPOINT_ID), certs.get(SLEEP), certs.get(APP)]);
  const app = destinationApp();
  const upstreamTunnels: Rig['upstreamTunnels'] = [];
  const dest = new HboneServer({
    certificate: appCert,
    onTunnel: (tun) => {
      upstreamTunnels.push({ peer: tun.peerIdentity, authority: tun.authority });
      const localPort = Number(tun.authority.slice(tun.authority.lastIndexOf(':') + 1));
      app.serve(new StreamDuplex(tun.accept(), { localPort }));
    },
  });
  const destPort = (await dest.listen(0, '127.0.0.1')).port;
  const accessLog: string[] = [];
  const waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: 'default' },
    source: new StaticConfigSource({ mesh: mesh(), resources: RESOURCES }),
    connector: new HboneConnector({ certificate: () => wpCert, hbonePort: destPort }),
    accessLog: { write: (l) => void accessLog.push(l) },
    logger: quiet,
  });
  await waypoint.start();
  const term = new HboneTermination(waypoint, { certificate: wpCert });
  const wpPort = (await term.listen(0, '127.0.0.1')).port;
  const client = new HboneClient();
  const sessions: http2.ClientHttp2Session[] = [];
  let drained = false;
  const tunnel = async (authority: string, cert: WorkloadCertificate = sleepCert) => {
    const stream = await client.connect({ nextHop: { host: '127.0.0.1', port: wpPort }, authority, expectedIdentities: [WAYPOINT_ID], certificate: cert, headers: { forwarded: 'for="10.244.0.9:51000"' } });
    return new StreamDuplex(stream);
  };
  return {
    waypoint,
    accessLog,
    upstreamTunnels,
    tunnel,
    async h2(authority) {
      const conn = await tunnel(authority);
      const s = http2.connect(`http://${authority}`, { createConnection: () => conn });
      s.on('error', () => undefined);
      sessions.push(s);
      return s;
    },
    async drain(graceMs) {
      drained = true;
      await drainWaypoint(waypoint, term, graceMs);
    },
    async close() {
      for (const s of sessions) s.destroy();
      client.close();
      if (!drained) {
        await term.close(100);
        await waypoint.close(100);
      }
      app.close();
      await dest.close();
      certs.close();
    },
  };
}

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders;
}

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let response: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => (response = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    // 'trailers' may come after 'end'; 'close' is last.
    stream.on('close', () => resolve({ status: Number(response[':status']), headers: response, body: Buffer.concat(chunks), trailers }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

/** An HTTP/1.1 request in a tunnel (Node's client), the body read whole. */
async function h1request(r: Rig, authority: string, path: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  const conn = await r.tunnel(authority);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ createConnection: () => conn as never, path, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => {
        conn.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Send raw bytes in a tunnel; everything received until the waypoint ends it. */
async function raw(r: Rig, authority: string, bytes: Buffer | string): Promise<Buffer> {
  const conn = await r.tunnel(authority);
  const chunks: Buffer[] = [];
  conn.on('data', (c: Buffer) => chunks.push(c));
  conn.on('error', () => undefined);
  const done = new Promise<void>((resolve) => {
    conn.once('end', resolve);
    conn.once('close', resolve);
  });
  conn.write(bytes);
  await done;
  conn.destroy();
  return Buffer.concat(chunks);
}

/** Wait (bounded) for something the waypoint records after the client saw its answer (access log lines). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((res) => setTimeout(res, 10));
}

/** HTTP/2 frame types in a byte string (9-byte frame headers). */
function frameTypes(b: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 9 <= b.length; ) {
    out.push(b[i + 3]!);
    i += 9 + b.readUIntBE(i, 3);
  }
  return out;
}

test('protocolOfHead reads the HTTP/2 preface byte by byte: HTTP/1 methods decide at once, a partial preface waits', (t) => {
  t.is(protocolOfHead(Buffer.from('GET / HTTP/1.1\r\n')), 'http1');
  t.is(protocolOfHead(Buffer.from('P')), undefined);
  t.is(protocolOfHead(Buffer.from('POST')), 'http1');
  t.is(protocolOfHead(Buffer.from('PRI * HTTP/2.0\r\n')), undefined);
  t.is(protocolOfHead(H2_PREFACE), 'h2');
  t.is(protocolOfHead(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])])), 'h2');
  t.is(protocolOfHead(Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n')), 'http1');
});

test('upstream protocol: HTTP/2 and gRPC ports get h2c, HTTP/1.1 ports HTTP/1.1, undeclared ports the downstream version', (t) => {
  const m = new InMemoryMeshState(mesh());
  const backend = (hostname: string, port: number) => ({ service: { hostname: `${hostname}.default.svc.cluster.local`, namespace: 'default', name: hostname, port } });
  t.is(upstreamProtocol(backend('greeter', 50051), m, 'HTTP/1.1'), 'h2');
  t.is(upstreamProtocol(backend('web', 9080), m, 'HTTP/2'), 'http1');
  t.is(upstreamProtocol(backend('plain', 8080), m, 'HTTP/2'), 'h2');
  t.is(upstreamProtocol(backend('plain', 8080), m, 'HTTP/1.1'), 'http1');
  t.is(upstreamProtocol({ endpoint: { address: '127.0.0.1', port: 1, protocol: 'TCP' } }, m, 'HTTP/1.1'), 'http1');
});

test('h2c in HBONE: routed by the HTTPRoute, forwarded as HTTP/1.1 to an HTTP port, answered over HTTP/2', async (t) => {
  const r = await rig();
  try {
    const s = await r.h2(WEB);
    const v2 = await h2request(s, { ':method': 'GET', ':path': '/v2/items?x=1', ':authority': 'web:9080' });
    t.is(v2.status, 200);
    t.is(v2.headers['content-type'], 'application/json');
    t.is(v2.headers['x-app'], 'h1');
    const seen = JSON.parse(v2.body.toString()) as Seen;
    t.is(seen.app, 'web-v2');
    t.is(seen.httpVersion, '1.1');
    t.is(seen.url, '/v2/items?x=1');
    t.is(seen.headers.host, 'web:9080');
    t.regex(String(seen.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    t.false(Object.keys(seen.headers).some((k) => k.startsWith(':')));
    // Same session, another stream: the default rule, with a request body.
    const post = await h2request(s, { ':method': 'POST', ':path': '/submit', ':authority': 'web:9080', 'content-type': 'text/plain' }, 'hello body');
    t.is(post.status, 200);
    t.is((JSON.parse(post.body.toString()) as Seen).app, 'app:9080');
    t.deepEqual(r.upstreamTunnels.map((u) => u.peer), [WAYPOINT_ID, WAYPOINT_ID]);
    await until(() => r.accessLog.some((l) => l.includes('"GET /v2/items?x=1 HTTP/2" 200')));
    t.true(r.accessLog.some((l) => l.includes('"GET /v2/items?x=1 HTTP/2" 200')), r.accessLog.join('\n'));
    t.regex((await r.waypoint.metrics.render()), /istio_requests_total\{[^}]*source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep"[^}]*destination_service="web-v2.default.svc.cluster.local"[^}]*response_code="200"[^}]*\} 1/);
  } finally {
    await r.close();
  }
});

test('h2c in HBONE: an authorization deny is an HTTP/2 403 "RBAC: access denied"', async (t) => {
  const r = await rig();
  try {
    const s = await r.h2(WEB);
    const denied = await h2request(s, { ':method': 'GET', ':path': '/private/keys', ':authority': 'web:9080' });
    t.is(denied.status, 403);
    t.is(denied.body.toString(), 'RBAC: access denied');
    t.is(denied.headers['content-type'], 'text/plain');
    // The session stays usable after the deny.
    t.is((await h2request(s, { ':method': 'GET', ':path': '/', ':authority': 'web:9080' })).status, 200);
    t.is(r.upstreamTunnels.length, 1);
  } finally {
    await r.close();
  }
});

test('gRPC through the waypoint: h2c upstream to a gRPC port, bidirectional streaming unbuffered, te and trailers intact', async (t) => {
  const r = await rig();
  try {
    const s = await r.h2(GREETER);
    const stream = s.request({ ':method': 'POST', ':path': '/echo.Echo/Chat', ':authority': 'greeter:50051', 'content-type': 'application/grpc', te: 'trailers' });
    let response: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => (response = h));
    stream.on('trailers', (tr) => (trailers = tr));
    let received = Buffer.alloc(0);
    const closed = new Promise<void>((resolve, reject) => {
      stream.on('close', resolve);
      stream.on('error', reject);
    });
    // Ping-pong: the next message is sent only once the previous reply arrived.
    const words = ['one', 'two', 'three'];
    stream.write(frame(words[0]!));
    stream.on('data', (c: Buffer) => {
      received = Buffer.concat([received, c]);
      const got = messages(received).length;
      if (got < words.length) stream.write(frame(words[got]!));
      else if (got === words.length) stream.end();
    });
    await closed;
    t.is(Number(response[':status']), 200);
    t.is(response['content-type'], 'application/grpc');
    t.is(response['x-te'], 'trailers');
    t.deepEqual(messages(received), ['pong:one', 'pong:two', 'pong:three']);
    t.is(trailers['grpc-status'], '0');
    t.is(trailers['grpc-message'], 'bye');
    t.is(trailers['x-checksum'], 'abc123');
  } finally {
    await r.close();
  }
});

test('gRPC status replies: an upstream trailers-only error and a waypoint deny both reach the client as grpc-status trailers', async (t) => {
  const r = await rig();
  try {
    const s = await r.h2(GREETER);
    const grpc = { ':method': 'POST', ':authority': 'greeter:50051', 'content-type': 'application/grpc', te: 'trailers' };
    const fail = await h2request(s, { ...grpc, ':path': '/echo.Echo/Fail' }, frame('x'));
    t.is(fail.status, 200);
    t.is(fail.headers['grpc-status'], undefined);
    t.is(fail.trailers['grpc-status'], '5');
    t.is(fail.trailers['grpc-message'], 'no such greeting');
    const denied = await h2request(s, { ...grpc, ':path': '/echo.Echo/Forbidden' }, frame('x'));
    t.is(denied.status, 200);
    t.is(denied.headers['content-type'], 'application/grpc');
    t.is(denied.trailers['grpc-status'], '7');
    t.is(denied.trailers['grpc-message'], 'RBAC: access denied');
    t.is(denied.body.length, 0);
  } finally {
    await r.close();
  }
});

test('protocol selection end to end: HTTP/1.1 to a gRPC port goes upstream as h2c; an undeclared port keeps the client version', async (t) => {
  const r = await rig();
  try {
    const h1ToGrpc = await h1request(r, GREETER, '/info', { host: 'greeter:50051' });
    t.is(h1ToGrpc.status, 200);
    t.is(h1ToGrpc.headers['x-app'], 'h2');
    t.is((JSON.parse(h1ToGrpc.body) as Seen).httpVersion, '2.0');
    const h1ToPlain = await h1request(r, PLAIN, '/info', { host: 'plain:8080' });
    t.is((JSON.parse(h1ToPlain.body) as Seen).httpVersion, '1.1');
    const h2ToPlain = await h2request(await r.h2(PLAIN), { ':method': 'GET', ':path': '/info', ':authority': 'plain:8080' });
    t.is((JSON.parse(h2ToPlain.body.toString()) as Seen).httpVersion, '2.0');
  } finally {
    await r.close();
  }
});

test('HTTP/1.1 "Upgrade: h2c" is served as HTTP/1.1, the upgrade ignored', async (t) => {
  const r = await rig();
  try {
    const out = await h1request(r, WEB, '/plain', { host: 'web:9080', connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA' });
    t.is(out.status, 200);
    const seen = JSON.parse(out.body) as Seen;
    t.is(seen.httpVersion, '1.1');
    t.is(seen.headers.upgrade, undefined);
    t.is(seen.headers['http2-settings'], undefined);
  } finally {
    await r.close();
  }
});

test('malformed HTTP/2 input fails cleanly: a broken preface gets 400, garbage after the preface GOAWAY, the waypoint keeps serving', async (t) => {
  const r = await rig();
  try {
    const broken = (await raw(r, WEB, 'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n')).toString();
    t.regex(broken, /^HTTP\/1\.1 400 Bad Request\r\n/);
    const garbage = await raw(r, WEB, Buffer.concat([H2_PREFACE, Buffer.from('this is not an HTTP/2 frame at all, not even a SETTINGS one\r\n\r\n')]));
    const types = frameTypes(garbage);
    t.is(types[0], 0x4, 'the server SETTINGS frame first');
    t.true(types.includes(0x7), 'then GOAWAY');
    // A HEADERS frame on stream 0 after a valid SETTINGS: a connection error too.
    const settings = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
    const headersOnZero = Buffer.from([0, 0, 1, 0x1, 0x5, 0, 0, 0, 0, 0x82]);
    t.true(frameTypes(await raw(r, WEB, Buffer.concat([H2_PREFACE, settings, headersOnZero]))).includes(0x7));
    // A tunnel closed before any byte, and one closed in the middle of the preface: the waypoint closes them.
    for (const bytes of [Buffer.alloc(0), H2_PREFACE.subarray(0, 10)]) {
      const conn = await r.tunnel(WEB);
      conn.on('error', () => undefined);
      const closed = new Promise((res) => conn.once('close', res));
      conn.resume();
      conn.end(bytes);
      await closed;
    }
    t.true(r.waypoint.ready);
    const ok = await h2request(await r.h2(WEB), { ':method': 'GET', ':path': '/', ':authority': 'web:9080' });
    t.is(ok.status, 200);
    t.regex((await raw(r, WEB, 'GET / HTTP/1.1\r\nhost: web:9080\r\nconnection: close\r\n\r\n')).toString(), /^HTTP\/1\.1 200 OK/);
  } finally {
    await r.close();
  }
});

function openWs(conn: Duplex, url: string): WebSocket {
  return new WebSocket(url, { createConnection: () => conn as never });
}

test('WebSocket through the waypoint: authorized and routed by the chain, then an echo both ways over HBONE', async (t) => {
  const r = await rig();
  try {
    const ws = openWs(await r.tunnel(WEB), 'ws://web:9080/chat');
    const replies: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => ws.send('hello'));
      ws.on('message', (m) => {
        replies.push(String(m));
        if (replies.length === 1) ws.send('again');
        else ws.close(1000, 'done');
      });
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    t.deepEqual(replies, ['echo:hello', 'echo:again']);
    // The upgrade went to the route's backend through an HBONE tunnel of its own.
    t.deepEqual(r.upstreamTunnels.map((u) => u.authority), ['127.0.0.1:9080']);
    await until(() => r.accessLog.some((l) => l.includes('"GET /chat HTTP/1.1" 101')));
    t.true(r.accessLog.some((l) => l.includes('"GET /chat HTTP/1.1" 101')), r.accessLog.join('\n'));
  } finally {
    await r.close();
  }
});

test('WebSocket denied by policy gets 403 "RBAC: access denied"; a backend refusing the upgrade has its answer relayed', async (t) => {
  const r = await rig();
  try {
    const refused = async (path: string) => {
      const ws = openWs(await r.tunnel(WEB), `ws://web:9080${path}`);
      return new Promise<{ status: number; body: string }>((resolve, reject) => {
        ws.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        ws.on('open', () => reject(new Error('upgraded')));
        ws.on('error', () => undefined);
      });
    };
    t.deepEqual(await refused('/private/ws'), { status: 403, body: 'RBAC: access denied' });
    t.is(r.upstreamTunnels.length, 0);
    t.deepEqual(await refused('/not-ws'), { status: 400, body: 'not for ws\n' });
    t.true(r.waypoint.ready);
  } finally {
    await r.close();
  }
});

test('a client resetting an HTTP/2 stream mid-upload does not disturb the session or the waypoint', async (t) => {
  const r = await rig();
  try {
    const s = await r.h2(WEB);
    const stream = s.request({ ':method': 'POST', ':path': '/upload', ':authority': 'web:9080', 'content-type': 'application/octet-stream' });
    stream.on('error', () => undefined);
    stream.write(Buffer.alloc(1024, 'a'));
    await new Promise((res) => setImmediate(res));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((res) => stream.once('close', res));
    const ok = await h2request(s, { ':method': 'POST', ':path': '/after', ':authority': 'web:9080' }, 'next');
    t.is(ok.status, 200);
    t.is((JSON.parse(ok.body.toString()) as Seen).url, '/after');
    t.true(r.waypoint.ready);
  } finally {
    await r.close();
  }
});

test('drain: an idle h2c session gets GOAWAY and closes at once instead of waiting out the grace', async (t) => {
  const r = await rig();
  try {
    const s = await r.h2(WEB);
    t.is((await h2request(s, { ':method': 'GET', ':path': '/', ':authority': 'web:9080' })).status, 200);
    const goaway = new Promise<number>((res) => s.once('goaway', (code: number) => res(code)));
    const closed = new Promise((res) => s.once('close', res));
    // A grace longer than the test may run: only the prompt path passes.
    await r.drain(600_000);
    t.is(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    await closed;
  } finally {
    await r.close();
  }
});

test('plain (uncaptured) endpoints: h2c upstream to a gRPC port and a WebSocket, through the plain HTTP listener', async (t) => {
  const app = destinationApp();
  const tcp = createNetServer((c) => app.serve(c));
  await new Promise<void>((res) => tcp.listen(0, '127.0.0.1', res));
  const port = (tcp.address() as { port: number }).port;
  const h = await startWaypoint(
    {
      services: [
        { ...service('greeter', '10.96.0.42', { 50051: port }), appProtocols: { '50051': 'GRPC' } },
        { ...service('web', '10.96.0.40', { 9080: port }), appProtocols: { '9080': 'HTTP11' } },
      ],
      workloads: [workload('app-0', '127.0.0.1', 'app', { 'default/greeter.default.svc.cluster.local': { 50051: port }, 'default/web.default.svc.cluster.local': { 9080: port } })],
    },
    RESOURCES,
  );
  try {
    const res = await request(`${h.url}/info`, { headers: { host: 'greeter:50051' } });
    t.is(res.statusCode, 200);
    t.is(((await res.body.json()) as Seen).httpVersion, '2.0');
    const ws = new WebSocket(`${h.url.replace('http', 'ws')}/chat`, { headers: { host: 'web:9080' } });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('plain'));
      ws.on('message', (m) => resolve(String(m)));
      ws.on('error', reject);
    });
    ws.close();
    t.is(reply, 'echo:plain');
  } finally {
    await h.close();
    app.close();
    tcp.close();
  }
});
