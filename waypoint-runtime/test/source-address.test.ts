// The client address comes from identity, not from headers: over real mTLS HBONE on loopback, a `forwarded`
// header is believed only from a trusted node account or for a workload of the peer's own identity, and
// X-Forwarded-For only with configured trusted hops. Headers nominated by `Connection` and a client's own
// x-forwarded-client-cert never reach the upstream.

import test from 'ava';
import type { K8sObject } from '@ambit/plugin-sdk';
import { CertificateManager, createRootCA, HboneClient, LocalCA } from '@ambit/mesh-api';
import { HboneTermination, StaticConfigSource, Waypoint, type WaypointOptions } from '../src/index.js';
import { echo, service, workload } from './helpers.js';

const WAYPOINT_ID = 'spiffe://cluster.local/ns/default/sa/waypoint';
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const NOTSLEEP = 'spiffe://cluster.local/ns/default/sa/notsleep';
const ZTUNNEL = 'spiffe://cluster.local/ns/istio-system/sa/ztunnel';
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };

// One ALLOW policy: /ip only from sleep's pod IP, /remote only from an original client in 1.2.3.0/24, /open for all.
const policy: K8sObject = {
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'by-address', namespace: 'default' },
  spec: {
    targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }],
    action: 'ALLOW',
    rules: [
      { from: [{ source: { ipBlocks: ['10.244.0.9/32'] } }], to: [{ operation: { paths: ['/ip'] } }] },
      { from: [{ source: { remoteIpBlocks: ['1.2.3.0/24'] } }], to: [{ operation: { paths: ['/remote'] } }] },
      { to: [{ operation: { paths: ['/open'] } }] },
    ],
  },
};

function dechunk(s: string): string {
  let out = '';
  for (let i = 0; ; ) {
    const eol = s.indexOf('\r\n', i);
    const n = parseInt(s.slice(i, eol), 16);
    if (!n) return out;
    out += s.slice(eol + 2, eol + 2 + n);
    i = eol + 2 + n + 2;
  }
}

async function setup(opts: Partial<WaypointOptions> = {}) {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const [wpCert, sleepCert, notsleepCert, ztunnelCert] = await Promise.all([certs.get(WAYPOINT_ID), certs.get(SLEEP), certs.get(NOTSLEEP), certs.get(ZTUNNEL)]);
  const app = await echo('productpage');
  const mesh = {
    services: [service('productpage', '10.96.0.30', { 9080: app.port })],
    workloads: [
      workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: app.port } }),
      workload('sleep', '10.244.0.9', 'sleep', {}),
      workload('notsleep', '10.244.0.10', 'notsleep', {}),
    ],
  };
  const waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: 'default' },
    source: new StaticConfigSource({ mesh, resources: [policy] }),
    accessLog: { write: () => {} },
    logger: quiet,
    ...opts,
  });
  await waypoint.start();
  const term = new HboneTermination(waypoint, { certificate: wpCert });
  const wpPort = (await term.listen(0, '127.0.0.1')).port;
  const client = new HboneClient();
  const certOf = { sleep: sleepCert, notsleep: notsleepCert, ztunnel: ztunnelCert };
  /** One request through its own tunnel; `forwarded` goes on the CONNECT, `headers` on the request. */
  const call = async (as: keyof typeof certOf, path: string, o: { forwarded?: string; headers?: Record<string, string> } = {}) => {
    const stream = await client.connect({
      nextHop: { host: '127.0.0.1', port: wpPort },
      authority: '10.96.0.30:9080',
      expectedIdentities: [WAYPOINT_ID],
      certificate: certOf[as],
      headers: o.forwarded ? { forwarded: o.forwarded } : undefined,
    });
    let out = '';
    stream.on('data', (c) => (out += c));
    const extra = Object.entries(o.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    stream.write(`GET ${path} HTTP/1.1\r\nhost: productpage:9080\r\n${extra}connection: close\r\n\r\n`);
    await new Promise((r) => {
      stream.once('end', r);
      stream.once('close', r);
    });
    stream.end();
    const status = Number(/^HTTP\/1.1 (\d{3})/.exec(out)?.[1] ?? 0);
    const head = out.slice(0, out.indexOf('\r\n\r\n'));
    let body = out.slice(head.length + 4);
    if (/transfer-encoding: chunked/i.test(head)) body = dechunk(body);
    return { status, upstream: status === 200 ? (JSON.parse(body) as { headers: Record<string, string> }) : undefined };
  };
  return {
    call,
    async close() {
      client.close();
      await term.close(100);
      await waypoint.close(100);
      await app.close();
      certs.close();
    },
  };
}

test('forwarded: for= is believed for a workload of the peer identity and from the ztunnel account, not from anyone else', async (t) => {
  const h = await setup();
  try {
    t.is((await h.call('sleep', '/ip', { forwarded: 'for="10.244.0.9:51000"' })).status, 200, "sleep's ztunnel (sleep's certificate) for sleep's IP");
    t.is((await h.call('ztunnel', '/ip', { forwarded: 'for="10.244.0.9:51000"' })).status, 200, 'a trusted node account for any workload');
    t.is((await h.call('notsleep', '/ip', { forwarded: 'for="10.244.0.9:51000"' })).status, 403, "notsleep claiming sleep's IP");
    t.is((await h.call('sleep', '/ip', { forwarded: 'for="10.244.0.10:51000"' })).status, 403, "sleep claiming notsleep's IP");
    t.is((await h.call('sleep', '/ip', { forwarded: 'for=garbage' })).status, 403, 'malformed header: the TCP peer counts');
    t.is((await h.call('ztunnel', '/ip', { forwarded: 'xfor="10.244.0.9:51000"' })).status, 403, 'only a for= parameter names the client');
    t.is((await h.call('ztunnel', '/ip', { forwarded: 'for=_hidden, for="10.244.0.9:51000"' })).status, 403, "a later hop's element does not count");
    t.is((await h.call('sleep', '/ip')).status, 403, 'no header: the TCP peer (127.0.0.1) counts');
  } finally {
    await h.close();
  }
});

test('remoteIpBlocks: X-Forwarded-For is ignored by default (numTrustedProxies 0)', async (t) => {
  const h = await setup();
  try {
    t.is((await h.call('sleep', '/remote', { headers: { 'x-forwarded-for': '1.2.3.4' } })).status, 403);
    t.is((await h.call('sleep', '/open', { headers: { 'x-forwarded-for': '1.2.3.4' } })).status, 200);
  } finally {
    await h.close();
  }
});

test('remoteIpBlocks with numTrustedProxies 1: the rightmost X-Forwarded-For entry is the client', async (t) => {
  const h = await setup({ numTrustedProxies: 1 });
  try {
    t.is((await h.call('sleep', '/remote', { headers: { 'x-forwarded-for': '1.2.3.4' } })).status, 200);
    t.is((await h.call('sleep', '/remote', { headers: { 'x-forwarded-for': '1.2.3.4, 10.9.9.9' } })).status, 403, 'a client-prepended entry is not trusted');
    t.is((await h.call('sleep', '/remote')).status, 403, 'no header: the source address');
  } finally {
    await h.close();
  }
  t.throws(() => new Waypoint({ identity: { name: 'w', namespace: 'default' }, numTrustedProxies: -1, logger: quiet }), { message: /numTrustedProxies must be a whole number >= 0, got -1/ });
});

test('headers named in Connection and a client-supplied x-forwarded-client-cert do not reach the upstream', async (t) => {
  const h = await setup();
  try {
    const r = await h.call('sleep', '/open', {
      headers: { 'x-kept': 'k', 'x-hop': 'secret', 'x-forwarded-client-cert': 'By=spiffe://evil;URI=spiffe://cluster.local/ns/default/sa/admin', connection: 'x-hop' },
    });
    t.is(r.status, 200);
    const seen = r.upstream!.headers;
    t.is(seen['x-kept'], 'k');
    t.false('x-hop' in seen, 'nominated by Connection: hop-by-hop');
    t.false('x-forwarded-client-cert' in seen, 'sanitized');
  } finally {
    await h.close();
  }
});
