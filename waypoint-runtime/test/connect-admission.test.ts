// The waypoint is not a forward proxy: over real mTLS HBONE on loopback, a CONNECT is taken only to a Service or
// workload bound to this waypoint, and a pod IP reached directly still gets its Service's policies.

import test from 'ava';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { K8sObject } from '@ambit/plugin-sdk';
import { CertificateManager, createRootCA, HboneClient, LocalCA, type HboneError } from '@ambit/mesh-api';
import { HboneTermination, StaticConfigSource, Waypoint } from '../src/index.js';
import { service, workload } from './helpers.js';

const WAYPOINT_ID = 'spiffe://cluster.local/ns/default/sa/waypoint';
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const NOTSLEEP = 'spiffe://cluster.local/ns/default/sa/notsleep';
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };

async function listen(host: string, name: string, hits: string[]): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    hits.push(`${name} ${req.method} ${req.url}`);
    res.end(`hello from ${name}`);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as AddressInfo).port };
}

async function setup() {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const [wpCert, sleepCert, notsleepCert] = await Promise.all([certs.get(WAYPOINT_ID), certs.get(SLEEP), certs.get(NOTSLEEP)]);
  const hits: string[] = [];
  const app = await listen('127.0.0.1', 'productpage', hits);
  // Something outside the mesh that a forward proxy would happily reach (the SSRF target).
  const outside = await listen('127.0.0.3', 'outside', hits);
  const mesh = {
    services: [service('productpage', '10.96.0.30', { 9080: app.port }), service('other', '10.96.0.40', { 9080: app.port })],
    workloads: [
      workload('productpage-v1', '127.0.0.1', 'bookinfo-productpage', { 'default/productpage.default.svc.cluster.local': { 9080: app.port } }),
      workload('other-v1', '127.0.0.2', 'other', { 'default/other.default.svc.cluster.local': { 9080: app.port } }),
    ],
  };
  // A Service-targeted ALLOW: only notsleep may call productpage.
  const policy: K8sObject = {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'productpage-viewer', namespace: 'default' },
    spec: { targetRefs: [{ kind: 'Service', group: '', name: 'productpage' }], action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/notsleep'] } }] }] },
  };
  const binding = { services: ['default/productpage.default.svc.cluster.local'], workloads: ['Kubernetes//Pod/default/productpage-v1'] };
  const waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: 'default' },
    source: new StaticConfigSource({ mesh, resources: [policy], binding }),
    accessLog: { write: () => {} },
    logger: quiet,
  });
  await waypoint.start();
  const term = new HboneTermination(waypoint, { certificate: wpCert });
  const wpPort = (await term.listen(0, '127.0.0.1')).port;
  const client = new HboneClient();
  /** GET / through a tunnel to `authority`: the response text, or the CONNECT's refusal status. */
  const call = async (authority: string, cert = sleepCert): Promise<{ status?: number; response?: string }> => {
    let stream;
    try {
      stream = await client.connect({ nextHop: { host: '127.0.0.1', port: wpPort }, authority, expectedIdentities: [WAYPOINT_ID], certificate: cert });
    } catch (err) {
      return { status: (err as HboneError).status ?? -1 };
    }
    let out = '';
    stream.on('data', (c) => (out += c));
    stream.write(`GET /x HTTP/1.1\r\nhost: ${authority}\r\nconnection: close\r\n\r\n`);
    await new Promise((r) => {
      stream.once('end', r);
      stream.once('close', r);
    });
    stream.end();
    return { response: out };
  };
  return {
    call,
    hits,
    app,
    outside,
    sleepCert,
    notsleepCert,
    async close() {
      client.close();
      await term.close(100);
      await waypoint.close(100);
      await Promise.all([app, outside].map(({ server }) => new Promise((r) => { server.closeAllConnections(); server.close(r); })));
      certs.close();
    },
  };
}

test('a CONNECT to an address outside the mesh is refused (400) and nothing reaches that address', async (t) => {
  const h = await setup();
  try {
    const r = await h.call(`127.0.0.3:${h.outside.port}`);
    t.is(r.status, 400, r.response);
    t.deepEqual(h.hits, []);
  } finally {
    await h.close();
  }
});

test('a CONNECT to a Service or workload not bound to this waypoint, or to a port the Service lacks, is refused', async (t) => {
  const h = await setup();
  try {
    t.is((await h.call('10.96.0.40:9080')).status, 400, 'service bound to another waypoint (or none)');
    t.is((await h.call(`127.0.0.2:${h.app.port}`)).status, 400, 'workload not bound to this waypoint');
    t.is((await h.call('10.96.0.30:22')).status, 400, 'port the Service does not declare');
    t.is((await h.call('10.96.0.30')).status, 400, 'no port');
    t.is((await h.call('fe80::1')).status, 400, 'IPv6 without brackets');
    t.deepEqual(h.hits, []);
  } finally {
    await h.close();
  }
});

test('bound destinations are served: the Service by VIP and by hostname; its Service policy decides', async (t) => {
  const h = await setup();
  try {
    const denied = await h.call('10.96.0.30:9080');
    t.regex(denied.response ?? '', /^HTTP\/1.1 403/);
    t.regex(denied.response ?? '', /RBAC: access denied$/);
    t.regex((await h.call('10.96.0.30:9080', h.notsleepCert)).response ?? '', /^HTTP\/1.1 200[^]*hello from productpage$/);
    t.regex((await h.call('productpage.default.svc.cluster.local:9080', h.notsleepCert)).response ?? '', /^HTTP\/1.1 200/);
  } finally {
    await h.close();
  }
});

test("a bound pod reached by its IP gets its Service's policies (no 403-on-VIP / 200-on-pod-IP bypass)", async (t) => {
  const h = await setup();
  try {
    const direct = await h.call(`127.0.0.1:${h.app.port}`);
    t.regex(direct.response ?? '', /^HTTP\/1.1 403/, direct.response);
    t.regex(direct.response ?? '', /RBAC: access denied$/);
    t.regex((await h.call(`127.0.0.1:${h.app.port}`, h.notsleepCert)).response ?? '', /^HTTP\/1.1 200[^]*hello from productpage$/);
    t.deepEqual(h.hits, ['productpage GET /x']);
  } finally {
    await h.close();
  }
});
