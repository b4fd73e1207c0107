// Mesh route scoping through the real runtime: clients reach the waypoint over mTLS HBONE, so the client namespace
// a consumer route is scoped to comes from the peer certificate (SPIFFE `ns/<ns>`), and a port no route binds is
// forwarded to the Service's endpoints on that port (upstream conformance MeshConsumerRoute, MeshPorts).

import test from 'ava';
import { createServer } from 'node:http';
import type { K8sObject } from '@ambit/plugin-sdk';
import { CertificateManager, createRootCA, HboneClient, HboneServer, LocalCA } from '@ambit/mesh-api';
import { HboneConnector, HboneTermination, StaticConfigSource, StreamDuplex, Waypoint } from '../src/index.js';
import { service, workload } from './helpers.js';

const MESH = 'gateway-conformance-mesh';
const CONSUMER = 'gateway-conformance-mesh-consumer';
const WAYPOINT_ID = `spiffe://cluster.local/ns/${MESH}/sa/waypoint`;
const ECHO_ID = `spiffe://cluster.local/ns/${MESH}/sa/echo`;
const id = (ns: string) => `spiffe://cluster.local/ns/${ns}/sa/default`;

test('HBONE clients: the consumer route applies to its namespace only; a port no route binds reaches the Service on that port', async (t) => {
  const certs = new CertificateManager(new LocalCA(createRootCA()));
  const [wpCert, echoCert, consumerCert, producerCert] = await Promise.all([certs.get(WAYPOINT_ID), certs.get(ECHO_ID), certs.get(id(CONSUMER)), certs.get(id(MESH))]);

  // The echo pod's "ztunnel": terminates HBONE and answers with the port the tunnel was for.
  const app = createServer((req, res) => res.end(JSON.stringify({ pod: 'echo-v1', host: req.headers.host })));
  const authorities: string[] = [];
  const dest = new HboneServer({
    certificate: echoCert,
    onTunnel: (tun) => {
      authorities.push(tun.authority);
      app.emit('connection', new StreamDuplex(tun.accept()));
    },
  });
  const destPort = (await dest.listen(0, '127.0.0.1')).port;

  const routes: K8sObject[] = [
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'mesh-echo-add-header', namespace: CONSUMER },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'echo-v1', namespace: MESH, port: 80 }],
        rules: [{ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'X-Header-Set', value: 'set' }] } }], backendRefs: [{ name: 'echo-v1', namespace: MESH, port: 80 }] }],
      },
    },
  ];
  const mesh = {
    services: [service('echo-v1', '10.96.5.1', { 80: 8080, 8080: 8081 }, MESH)],
    workloads: [workload('echo-v1-a', '127.0.0.1', 'echo', { [`${MESH}/echo-v1.${MESH}.svc.cluster.local`]: { 80: 8080, 8080: 8081 } }, { protocol: 'HBONE', namespace: MESH })],
  };
  const waypoint = new Waypoint({
    identity: { name: 'waypoint', namespace: MESH },
    source: new StaticConfigSource({ mesh, resources: routes }),
    connector: new HboneConnector({ certificate: () => wpCert, hbonePort: destPort }),
    accessLog: { write: () => {} },
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  });
  await waypoint.start();
  const term = new HboneTermination(waypoint, { certificate: wpCert });
  const wpPort = (await term.listen(0, '127.0.0.1')).port;

  const client = new HboneClient();
  const call = async (cert: typeof consumerCert, authority: string, host: string) => {
    const stream = await client.connect({ nextHop: { host: '127.0.0.1', port: wpPort }, authority, expectedIdentities: [WAYPOINT_ID], certificate: cert });
    let out = '';
    stream.on('data', (c) => (out += c));
    stream.write(`GET / HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
    await new Promise((r) => stream.on('end', r));
    stream.end();
    return out;
  };
  try {
    const consumer = await call(consumerCert, '10.96.5.1:80', `echo-v1.${MESH}`);
    t.regex(consumer, /^HTTP\/1.1 200 OK/);
    t.regex(consumer, /\r\nx-header-set: set\r\n/i, 'a client of the consumer namespace gets the consumer route');
    t.regex(consumer, /"pod":"echo-v1"/);
    t.is(authorities.at(-1), '127.0.0.1:8080');

    const producer = await call(producerCert, '10.96.5.1:80', `echo-v1.${MESH}`);
    t.regex(producer, /^HTTP\/1.1 200 OK/);
    t.notRegex(producer, /x-header-set/i, 'a client of the Service namespace does not');

    const otherPort = await call(consumerCert, '10.96.5.1:8080', `echo-v1.${MESH}:8080`);
    t.regex(otherPort, /^HTTP\/1.1 200 OK/, 'port 8080 has no route: default routing, not 404');
    t.notRegex(otherPort, /x-header-set/i);
    t.is(authorities.at(-1), '127.0.0.1:8081', 'forwarded to the target port of Service port 8080');
  } finally {
    client.close();
    await term.close();
    await waypoint.close(100);
    await dest.close();
    certs.close();
  }
});
