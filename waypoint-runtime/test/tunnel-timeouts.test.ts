// Header, body and keep-alive limits hold for HTTP served inside real HBONE tunnels (mTLS HTTP/2 CONNECT on
// loopback), HTTP/1.1 and h2c alike: a slow or idle client's tunnel is closed, and the waypoint keeps serving
// everyone else. No timing is asserted, only that the tunnel closes (a generous cap turns "never" into a failure).

import test from 'ava';
import { createServer } from 'node:http';
import { connect as h2connect, type ClientHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { CertificateManager, createRootCA, HboneClient, LocalCA } from '@ambit/mesh-api';
import { HboneTermination, StaticConfigSource, Waypoint } from '../src/index.js';
import { service, workload } from './helpers.js';

const WAYPOINT_ID = 'spiffe://cluster.local/ns/default/sa/waypoint';
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const NEVER = 20_000;
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };

async function setup() {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const [wpCert, sleepCert] = await Promise.all([certs.get(WAYPOINT_ID), certs.get(SLEEP)]);
  // The app reads the whole body before it answers, as most do.
  const app = createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(`ok ${n}`));
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as AddressInfo).port;
  const mesh = {
    // The app speaks HTTP/1.1 only (declared, so h2c clients are forwarded to it over HTTP/1.1).
    services: [{ ...service('productpage', '10.96.0.30', { 9080: appPort }), appProtocols: { 9080: 'HTTP11' as const } }],
    workloads: [workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: appPort } })],
  };
  const waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: 'default' },
    source: new StaticConfigSource({ mesh, resources: [] }),
    accessLog: { write: () => {} },
    logger: quiet,
    // Far above what a well-behaved request needs even on a loaded 2-core machine (at 300 ms, a load average of 12
    // once timed out the well-behaved request too), and far below NEVER.
    limits: { headersTimeoutMs: 2000, requestTimeoutMs: 4000, keepAliveTimeoutMs: 1500, checkIntervalMs: 50 },
  });
  await waypoint.start();
  const term = new HboneTermination(waypoint, { certificate: wpCert });
  const wpPort = (await term.listen(0, '127.0.0.1')).port;
  const client = new HboneClient();
  const tunnel = () => client.connect({ nextHop: { host: '127.0.0.1', port: wpPort }, authority: '10.96.0.30:9080', expectedIdentities: [WAYPOINT_ID], certificate: sleepCert });
  /** A well-behaved HTTP/1.1 request in a tunnel of its own. */
  const get = async () => {
    const s = await tunnel();
    s.write('GET / HTTP/1.1\r\nhost: productpage:9080\r\nconnection: close\r\n\r\n');
    return (await ended(s)).out;
  };
  return {
    tunnel,
    get,
    async close() {
      client.close();
      await term.close(100);
      await waypoint.close(100);
      await new Promise((r) => {
        app.closeAllConnections();
        app.close(r);
      });
      certs.close();
    },
  };
}

/** Everything the waypoint sends on `s` until it ends or closes the tunnel; `closed` false if it never does. */
function ended(s: ClientHttp2Stream): Promise<{ out: string; closed: boolean }> {
  return new Promise((resolve) => {
    let out = '';
    s.on('data', (c: Buffer) => (out += c));
    s.on('error', () => undefined);
    const cap = setTimeout(() => done(false), NEVER);
    const done = (closed: boolean) => {
      clearTimeout(cap);
      resolve({ out, closed });
    };
    s.once('end', () => done(true));
    s.once('close', () => done(true));
  });
}

test('HTTP/1.1 in a tunnel: headers that never finish (slowloris) close the tunnel; others are served meanwhile', async (t) => {
  const h = await setup();
  const s = await h.tunnel();
  s.write('GET / HTTP/1.1\r\nhost: productpage:9080\r\n');
  const drip = setInterval(() => s.writable && s.write('x-slow: 1\r\n'), 50);
  try {
    t.regex(await h.get(), /^HTTP\/1.1 200[^]*ok 0$/, 'another client is served while the slow one drips');
    const r = await ended(s);
    t.true(r.closed, 'the slow tunnel is closed');
    t.regex(r.out, /^(HTTP\/1.1 408 |$)/);
    t.regex(await h.get(), /^HTTP\/1.1 200[^]*ok 0$/);
  } finally {
    clearInterval(drip);
    await h.close();
  }
});

test('HTTP/1.1 in a tunnel: a body that stalls is answered 408 and the tunnel closed', async (t) => {
  const h = await setup();
  try {
    const s = await h.tunnel();
    s.write('POST /upload HTTP/1.1\r\nhost: productpage:9080\r\ncontent-length: 100\r\n\r\n0123456789');
    const r = await ended(s);
    t.true(r.closed);
    t.regex(r.out, /^HTTP\/1.1 408 /);
    t.regex(await h.get(), /^HTTP\/1.1 200[^]*ok 0$/);
  } finally {
    await h.close();
  }
});

test('HTTP/1.1 in a tunnel: an idle keep-alive connection is closed after its response', async (t) => {
  const h = await setup();
  try {
    const s = await h.tunnel();
    const r = ended(s);
    s.write('GET / HTTP/1.1\r\nhost: productpage:9080\r\n\r\n');
    const { out, closed } = await r;
    t.true(closed, 'the idle tunnel is closed');
    t.regex(out, /^HTTP\/1.1 200[^]*ok 0$/);
    t.notRegex(out, /connection: close/i, 'it was a keep-alive response');
  } finally {
    await h.close();
  }
});

/** An h2c session (prior knowledge) inside one tunnel. */
async function h2session(h: Awaited<ReturnType<typeof setup>>) {
  const s = await h.tunnel();
  const session = h2connect('http://productpage:9080', { createConnection: () => s as never });
  session.on('error', () => undefined);
  const gone = new Promise<boolean>((resolve) => {
    const cap = setTimeout(() => resolve(false), NEVER);
    session.once('close', () => {
      clearTimeout(cap);
      resolve(true);
    });
  });
  return { session, gone };
}

function h2request(session: ReturnType<typeof h2connect>, headers: Record<string, string>, body?: string, end = true): Promise<{ status?: number; body: string; reset?: number }> {
  return new Promise((resolve) => {
    const req = session.request(headers, { endStream: body === undefined && end });
    let status: number | undefined;
    let text = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => (text += c));
    req.on('error', () => undefined);
    const cap = setTimeout(() => resolve({ status, body: '(stream never closed)' }), NEVER);
    req.on('close', () => {
      clearTimeout(cap);
      resolve({ status, body: text, reset: req.rstCode || undefined });
    });
    if (body !== undefined) {
      req.write(body);
      if (end) req.end();
    }
  });
}

test('h2c in a tunnel: a session that opens no stream is sent GOAWAY and closed, even while it keeps pinging', async (t) => {
  const h = await setup();
  try {
    const { session, gone } = await h2session(h);
    const first = await h2request(session, { ':method': 'GET', ':path': '/' });
    t.is(first.status, 200);
    t.is(first.body, 'ok 0');
    // PINGs are activity, not requests: they must not keep an idle session (or an unfinished header block) alive.
    const ping = setInterval(() => !session.closed && !session.destroyed && session.ping(() => undefined), 50);
    try {
      t.true(await gone, 'the idle session is closed');
    } finally {
      clearInterval(ping);
    }
    t.regex(await h.get(), /^HTTP\/1.1 200/);
  } finally {
    await h.close();
  }
});

test('h2c in a tunnel: a request body that stalls is answered 408; the session serves other streams', async (t) => {
  const h = await setup();
  try {
    const { session } = await h2session(h);
    const stalled = await h2request(session, { ':method': 'POST', ':path': '/upload', 'content-length': '100' }, '0123456789', false);
    t.is(stalled.status, 408, JSON.stringify(stalled));
    t.is(stalled.body, 'request timeout');
    const next = await h2request(session, { ':method': 'POST', ':path': '/upload' }, 'abc');
    t.is(next.status, 200);
    t.is(next.body, 'ok 3');
    session.close();
  } finally {
    await h.close();
  }
});

test('h2c in a tunnel: the waypoint announces at most 100 concurrent streams per session', async (t) => {
  const h = await setup();
  try {
    const { session } = await h2session(h);
    const first = await h2request(session, { ':method': 'GET', ':path': '/' });
    t.is(first.status, 200);
    t.is(session.remoteSettings.maxConcurrentStreams, 100);
    session.close();
  } finally {
    await h.close();
  }
});
