// ztunnel's /config_dump on the admin port, read over loopback as `istioctl ztunnel-config all|certificates` reads
// it: the field names of istioctl's Go structs (ZtunnelDump, CertsDump, Cert, WorkloadState), written here from
// those structs, not copied from Istio's test data.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import test from 'ava';
import { LocalCA, createRootCA, type MeshConfig } from '@ambit/mesh-api';
import { parseSharedConfig } from '../src/node/config.js';
import { NodeProxy, type MeshConfigSource } from '../src/node/node-proxy.js';
import { ZdsServer } from '../src/zds/index.js';

const quiet = { error() {}, warn() {}, info() {}, debug() {} };
const IDENTITY = 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage';

/** istioctl's Cert: pem, serialNumber (decimal: it parses it with big.Int SetString base 10), RFC 3339 times. */
interface IstioctlCert {
  pem: string;
  serialNumber: string;
  validFrom: string;
  expirationTime: string;
}

test('config_dump: certificates and workloadState as istioctl reads them', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zt-admin-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'ztunnel.sock');
  const zds = new ZdsServer({ socketPath, log: quiet });
  t.teardown(() => zds.stop());
  await zds.start();
  const configSource: MeshConfigSource = {
    start: async () => undefined,
    stop: async () => undefined,
    ready: async () => ({ workloads: [], services: [], policies: [] }) as unknown as MeshConfig,
    onUpdate: () => () => undefined,
  };
  const root = createRootCA();
  const config = parseSharedConfig({ NODE_NAME: 'node-1', ZDS_SOCKET: socketPath, ADMIN_ADDR: '127.0.0.1:0', READINESS_ADDR: 'off', STATS_ADDR: 'off' });
  const np = new NodeProxy({ config, certificateSource: new LocalCA(root, 3600), configSource });
  t.teardown(() => np.stop());
  const ports = await np.start();
  const issued = await np.certs.get(IDENTITY);

  // istioctl GETs `config_dump` through a port-forward to the pod's 15000.
  const res = await fetch(`http://127.0.0.1:${ports.admin}/config_dump`);
  t.is(res.status, 200);
  const dump = (await res.json()) as {
    workloads: unknown[];
    services: unknown[];
    policies: unknown[];
    certificates: { identity: string; state: string; certChain: IstioctlCert[]; rootCerts: IstioctlCert[] }[];
    workloadState: Record<string, unknown>;
  };
  t.true(Array.isArray(dump.workloads) && Array.isArray(dump.services) && Array.isArray(dump.policies));
  t.deepEqual(dump.workloadState, {}, 'no pod proxied yet: an empty map, not missing');

  t.is(dump.certificates.length, 1);
  const c = dump.certificates[0]!;
  t.is(c.identity, IDENTITY);
  t.is(c.state, 'Available');
  // The leaf only: roots are apart (a chain that held its root would show it twice in istioctl's table).
  t.is(c.certChain.length, 1);
  t.is(c.rootCerts.length, 1);
  const leaf = new crypto.X509Certificate(issued.certChainPem[0]!);
  const cert = c.certChain[0]!;
  t.is(cert.pem, issued.certChainPem[0]);
  t.regex(cert.serialNumber, /^[0-9]+$/);
  t.is(BigInt(cert.serialNumber), BigInt(`0x${leaf.serialNumber}`));
  t.regex(cert.validFrom, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.regex(cert.expirationTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.is(Date.parse(cert.expirationTime), Date.parse(leaf.validTo));
  t.is(Date.parse(cert.validFrom), Date.parse(leaf.validFrom));
  const rootCert = new crypto.X509Certificate(c.rootCerts[0]!.pem);
  t.true(rootCert.ca);
  t.is(BigInt(c.rootCerts[0]!.serialNumber), BigInt(`0x${rootCert.serialNumber}`));
  t.false(JSON.stringify(dump).includes('PRIVATE KEY'), 'no key material');
});
