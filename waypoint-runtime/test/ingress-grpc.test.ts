// GRPCRoutes on an ingress gateway's listeners (the suite's GATEWAY-GRPC profile): real gRPC-shaped HTTP/2 calls
// from a client on loopback (h2c prior knowledge on an HTTP listener, ALPN h2 on an HTTPS one) to HTTP/2-only
// backends (a node:http2 server without HTTP/1.1 fallback, so a backend reached over HTTP/1.1 fails the call):
// method and header matching, the listener picked by :authority, weights, filters, and the backend's
// grpc-status/grpc-message trailers carried back intact.
import test from 'ava';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { IngressListener } from '@ambit/mesh-api';
import { createRootCA } from '@ambit/mesh-api';
import type { K8sObject, ServiceView, WorkloadView } from '@ambit/plugin-sdk';
import { StaticConfigSource, Waypoint, type WaypointSnapshot } from '../src/index.js';
import { service, workload, freePort } from './helpers.js';

const GW = 'gateway.networking.k8s.io';
const NS = 'gateway-conformance-infra';
const SVC = 'gateway_api_conformance.echo_basic.grpcecho.GrpcEcho';


/** gRPC message framing: 1 byte compressed flag, 4 bytes length, payload. */
function frame(payload: Buffer): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b.writeUInt32BE(payload.length, 1);
  payload.copy(b, 5);
  return b;
}

interface Seen {
  backend: string;
  path: string;
  message: string;
  headers: Record<string, string>;
}

/**
 * A gRPC-shaped unary server (h2c only): answers HEADERS (`:status 200`, application/grpc), one DATA message that
 * says who answered what, then trailers `grpc-status: 0`. Method `Fail` answers grpc-status 5 (NOT_FOUND) with a
 * grpc-message and no message.
 */
async function grpcBackend(name: string) {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const path = String(headers[':path']);
      const body = Buffer.concat(chunks);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-backend': name }, { waitForTrailers: true });
      const fail = path.endsWith('/Fail');
      stream.on('wantTrailers', () =>
        stream.sendTrailers(fail ? { 'grpc-status': '5', 'grpc-message': 'no such thing: %E2%9C%93' } : { 'grpc-status': '0', 'x-trailer': name }),
      );
      if (fail) return stream.end();
      const plain = Object.fromEntries(Object.entries(headers).filter(([k]) => !k.startsWith(':')).map(([k, v]) => [k, String(v)]));
      const seen: Seen = { backend: name, path, message: body.subarray(5).toString(), headers: plain };
      stream.end(frame(Buffer.from(JSON.stringify(seen))));
    });
  });
  server.on('sessionError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

type Backend = Awaited<ReturnType<typeof grpcBackend>>;

/** Services grpc-infra-backend-<v> on port 8080 with appProtocol kubernetes.io/h2c (HTTP2), as the suite declares. */
function mesh(backends: Record<string, Backend>): { services: ServiceView[]; workloads: WorkloadView[] } {
  const services: ServiceView[] = [];
  const workloads: WorkloadView[] = [];
  let i = 10;
  for (const [name, b] of Object.entries(backends)) {
    services.push({ ...service(name, `10.96.0.${i++}`, { 8080: b.port }, NS), appProtocols: { '8080': 'HTTP2' } });
    workloads.push(workload(`${name}-0`, '127.0.0.1', name, { [`${NS}/${name}.${NS}.svc.cluster.local`]: { 8080: b.port } }, { namespace: NS }));
  }
  return { services, workloads };
}

function grpcRoute(name: string, spec: Record<string, unknown>): K8sObject {
  return {
    apiVersion: `${GW}/v1`,
    kind: 'GRPCRoute',
    metadata: { name, namespace: NS, creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { parentRefs: [{ name: 'same-namespace' }], ...spec },
  };
}

const key = (o: K8sObject) => `${o.kind}.${GW}/${o.metadata.namespace}/${o.metadata.name}`;

function listener(name: string, targetPort: number, routes: K8sObject[], extra: Partial<IngressListener> = {}): IngressListener {
  return { name, parent: { group: GW, namespace: NS, name: 'same-namespace' }, port: 80, targetPort, protocol: 'HTTP', routes: routes.map(key), ...extra };
}

async function gateway(snapshot: WaypointSnapshot) {
  const quiet = () => undefined;
  const logger = { debug: quiet, info: quiet, warn: quiet, error: quiet, child: () => logger };
  const waypoint = new Waypoint({
    identity: { name: 'same-namespace', namespace: NS, serviceAccount: 'same-namespace-istio' },
    source: new StaticConfigSource(snapshot),
    accessLog: { write: () => {} },
    logger,
    ingress: { host: '127.0.0.1', drainMs: 100 },
  });
  await waypoint.start();
  await waypoint.ingressSettled();
  return { close: () => waypoint.close(100) };
}

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  /** The response message, when there is one. */
  seen?: Seen;
  body: Buffer;
}

/** One unary call on `session`: POST /<service>/<method>, content-type application/grpc, te: trailers. */
function call(session: http2.ClientHttp2Session, authority: string, method: string, metadata: Record<string, string> = {}, message = 'hi'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': `/${SVC}/${method}`, ':authority': authority, 'content-type': 'application/grpc', te: 'trailers', ...metadata });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (headers = h));
    req.on('trailers', (h) => (trailers = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => {
      const body = Buffer.concat(chunks);
      const seen = body.length > 5 ? (JSON.parse(body.subarray(5).toString()) as Seen) : undefined;
      resolve({ status: Number(headers[':status']), headers, trailers, seen, body });
    });
    req.on('error', reject);
    req.end(frame(Buffer.from(message)));
  });
}

/** The grpc-status of a call: from the trailers, or from the headers of a trailers-only response. */
const grpcStatus = (a: Answer) => a.trailers['grpc-status'] ?? a.headers['grpc-status'];

function h2c(port: number): http2.ClientHttp2Session {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => undefined);
  return s;
}

test.serial('h2c on an HTTP listener: exact service/method matches pick the backend over HTTP/2; an unmatched method is UNIMPLEMENTED', async (t) => {
  const backends = { 'grpc-infra-backend-v1': await grpcBackend('v1'), 'grpc-infra-backend-v2': await grpcBackend('v2') };
  const route = grpcRoute('exact-matching', {
    rules: [
      { matches: [{ method: { service: SVC, method: 'Echo' } }], backendRefs: [{ name: 'grpc-infra-backend-v1', port: 8080 }] },
      { name: 'two', matches: [{ method: { service: SVC, method: 'EchoTwo' } }], backendRefs: [{ name: 'grpc-infra-backend-v2', port: 8080 }] },
      { matches: [{ method: { service: SVC, method: 'Fail' } }], backendRefs: [{ name: 'grpc-infra-backend-v1', port: 8080 }] },
    ],
  });
  const port = await freePort();
  const gw = await gateway({ mesh: mesh(backends), resources: [route], ingress: { listeners: [listener('http', port, [route])] } });
  const session = h2c(port);
  try {
    const one = await call(session, 'gw.example', 'Echo', {}, 'first');
    t.is(one.status, 200);
    t.is(grpcStatus(one), '0');
    t.is(one.trailers['x-trailer'], 'v1', 'the backend trailers come back as trailers');
    t.is(one.seen?.backend, 'v1');
    t.is(one.seen?.path, `/${SVC}/Echo`);
    t.is(one.seen?.message, 'first', 'the request message reaches the backend whole');
    t.is(one.seen?.headers['content-type'], 'application/grpc');
    const two = await call(session, 'gw.example', 'EchoTwo');
    t.is(grpcStatus(two), '0');
    t.is(two.seen?.backend, 'v2');
    const three = await call(session, 'gw.example', 'EchoThree');
    t.is(three.status, 200);
    t.is(grpcStatus(three), '12', 'no rule matches: UNIMPLEMENTED');
    t.is(three.seen, undefined);
    // A non-zero status from the backend, with its message, is carried back as the backend sent it.
    const fail = await call(session, 'gw.example', 'Fail');
    t.is(fail.status, 200);
    t.is(grpcStatus(fail), '5');
    t.is(fail.trailers['grpc-message'] ?? fail.headers['grpc-message'], 'no such thing: %E2%9C%93');
    t.is(fail.body.length, 0);
  } finally {
    session.destroy();
    await gw.close();
    for (const b of Object.values(backends)) await b.close();
  }
});

test.serial('header matches: most header matches first, ORed matches within a rule, nothing matching is UNIMPLEMENTED; regex method matches', async (t) => {
  const backends = { 'grpc-infra-backend-v1': await grpcBackend('v1'), 'grpc-infra-backend-v2': await grpcBackend('v2'), 'grpc-infra-backend-v3': await grpcBackend('v3') };
  const to = (name: string) => [{ name, port: 8080 }];
  const headers = grpcRoute('grpc-header-matching', {
    rules: [
      { matches: [{ headers: [{ name: 'version', value: 'one' }] }], backendRefs: to('grpc-infra-backend-v1') },
      { matches: [{ headers: [{ name: 'version', value: 'two' }] }], backendRefs: to('grpc-infra-backend-v2') },
      { matches: [{ headers: [{ name: 'version', value: 'two' }, { name: 'color', value: 'orange' }] }], backendRefs: to('grpc-infra-backend-v1') },
      { matches: [{ headers: [{ name: 'color', value: 'blue' }] }, { headers: [{ name: 'color', value: 'green' }] }], backendRefs: to('grpc-infra-backend-v1') },
      { matches: [{ headers: [{ name: 'color', value: 'red' }] }, { headers: [{ name: 'color', value: 'yellow' }] }], backendRefs: to('grpc-infra-backend-v2') },
    ],
  });
  const regex = grpcRoute('regex', {
    hostnames: ['regex.example'],
    rules: [{ matches: [{ method: { type: 'RegularExpression', service: 'gateway_api_conformance\\..*', method: 'Echo(Two)?' } }], backendRefs: to('grpc-infra-backend-v3') }],
  });
  const port = await freePort();
  const gw = await gateway({ mesh: mesh(backends), resources: [headers, regex], ingress: { listeners: [listener('http', port, [headers, regex])] } });
  const session = h2c(port);
  try {
    const cases: Array<[Record<string, string>, string | undefined]> = [
      [{ version: 'one' }, 'v1'],
      [{ version: 'two' }, 'v2'],
      [{ version: 'two', color: 'orange' }, 'v1'],
      [{ version: 'two', color: 'blue' }, 'v2'],
      [{ color: 'orange' }, undefined],
      [{ 'some-other-header': 'one' }, undefined],
      [{ color: 'blue' }, 'v1'],
      [{ color: 'green' }, 'v1'],
      [{ color: 'red' }, 'v2'],
      [{ color: 'yellow' }, 'v2'],
      [{ color: 'purple' }, undefined],
    ];
    for (const [metadata, backend] of cases) {
      const a = await call(session, 'gw.example', 'Echo', metadata);
      t.is(a.seen?.backend, backend, JSON.stringify(metadata));
      t.is(grpcStatus(a), backend ? '0' : '12', JSON.stringify(metadata));
    }
    t.is((await call(session, 'regex.example', 'EchoTwo')).seen?.backend, 'v3');
    t.is(grpcStatus(await call(session, 'regex.example', 'EchoThree')), '12');
  } finally {
    session.destroy();
    await gw.close();
    for (const b of Object.values(backends)) await b.close();
  }
});

test.serial('listener hostnames: :authority picks the listener (exact before wildcard) and only its GRPCRoutes apply', async (t) => {
  const backends = { 'grpc-infra-backend-v1': await grpcBackend('v1'), 'grpc-infra-backend-v2': await grpcBackend('v2'), 'grpc-infra-backend-v3': await grpcBackend('v3') };
  const only = (name: string, backend: string) => grpcRoute(name, { rules: [{ backendRefs: [{ name: backend, port: 8080 }] }] });
  const [r1, r2, r3] = [only('backend-v1', 'grpc-infra-backend-v1'), only('backend-v2', 'grpc-infra-backend-v2'), only('backend-v3', 'grpc-infra-backend-v3')];
  const port = await freePort();
  const listeners = [
    listener('listener-1', port, [r1], { hostnames: ['bar.com'] }),
    listener('listener-2', port, [r2], { hostnames: ['foo.bar.com'] }),
    listener('listener-3', port, [r3], { hostnames: ['*.bar.com'] }),
    listener('listener-4', port, [r3], { hostnames: ['*.foo.com'] }),
  ];
  const gw = await gateway({ mesh: mesh(backends), resources: [r1, r2, r3], ingress: { listeners } });
  const session = h2c(port);
  try {
    const cases: Array<[string, string | undefined]> = [
      ['bar.com', 'v1'],
      ['foo.bar.com', 'v2'],
      ['baz.bar.com', 'v3'],
      ['boo.bar.com', 'v3'],
      ['multiple.prefixes.bar.com', 'v3'],
      ['multiple.prefixes.foo.com', 'v3'],
      ['foo.com', undefined],
      ['no.matching.host', undefined],
    ];
    for (const [authority, backend] of cases) {
      const a = await call(session, authority, 'Echo');
      t.is(a.seen?.backend, backend, authority);
      t.is(grpcStatus(a), backend ? '0' : '12', authority);
    }
  } finally {
    session.destroy();
    await gw.close();
    for (const b of Object.values(backends)) await b.close();
  }
});

test.serial('weights 70/30/0 split calls between backends; header filters apply to the call and its response', async (t) => {
  const backends = { 'grpc-infra-backend-v1': await grpcBackend('v1'), 'grpc-infra-backend-v2': await grpcBackend('v2'), 'grpc-infra-backend-v3': await grpcBackend('v3') };
  const route = grpcRoute('weighted-backends', {
    rules: [
      {
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-added', value: 'yes' }], remove: ['x-drop'] } },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-response', value: 'set-by-route' }] } },
        ],
        backendRefs: [
          { name: 'grpc-infra-backend-v1', port: 8080, weight: 70 },
          { name: 'grpc-infra-backend-v2', port: 8080, weight: 30 },
          { name: 'grpc-infra-backend-v3', port: 8080, weight: 0 },
        ],
      },
    ],
  });
  const port = await freePort();
  const gw = await gateway({ mesh: mesh(backends), resources: [route], ingress: { listeners: [listener('http', port, [route])] } });
  const session = h2c(port);
  try {
    const counts: Record<string, number> = { v1: 0, v2: 0, v3: 0 };
    for (let i = 0; i < 200; i++) {
      const a = await call(session, 'gw.example', 'Echo', { 'x-drop': 'me' });
      t.is(grpcStatus(a), '0');
      counts[a.seen!.backend]!++;
      if (i === 0) {
        t.is(a.seen!.headers['x-added'], 'yes');
        t.false('x-drop' in a.seen!.headers);
        t.is(a.headers['x-response'], 'set-by-route');
      }
    }
    t.is(counts.v3, 0, JSON.stringify(counts));
    t.true(counts.v1! >= 115 && counts.v1! <= 165, JSON.stringify(counts));
  } finally {
    session.destroy();
    await gw.close();
    for (const b of Object.values(backends)) await b.close();
  }
});

test.serial('ALPN h2 on an HTTPS listener: GRPCRoutes apply to calls over TLS', async (t) => {
  const backends = { 'grpc-infra-backend-v1': await grpcBackend('v1') };
  const route = grpcRoute('tls', { hostnames: ['grpc.example.com'], rules: [{ matches: [{ method: { service: SVC } }], backendRefs: [{ name: 'grpc-infra-backend-v1', port: 8080 }] }] });
  const ca = createRootCA({ commonName: 'grpc.example.com' });
  const port = await freePort();
  const tls = { mode: 'Terminate' as const, certificates: [{ certChain: ca.certPem, privateKey: ca.keyPem }] };
  const gw = await gateway({ mesh: mesh(backends), resources: [route], ingress: { listeners: [listener('https', port, [route], { protocol: 'HTTPS', port: 443, tls })] } });
  const session = http2.connect(`https://127.0.0.1:${port}`, { servername: 'grpc.example.com', rejectUnauthorized: false });
  session.on('error', () => undefined);
  try {
    const a = await call(session, 'grpc.example.com', 'Anything', {}, 'secret');
    t.is(grpcStatus(a), '0');
    t.is(a.seen?.backend, 'v1');
    t.is(a.seen?.message, 'secret');
    t.is(grpcStatus(await call(session, 'other.example.com', 'Anything')), '12', 'the route hostname does not match');
  } finally {
    session.destroy();
    await gw.close();
    await backends['grpc-infra-backend-v1'].close();
  }
});

