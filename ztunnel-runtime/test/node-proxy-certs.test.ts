// The node proxy (shared mode) over a real ZDS socket in a temp dir, no root: a pod whose enrolment fails leaves no
// identity behind in the certificate manager (no renewal loop for a pod that never started).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { CertificateSource, MeshConfig } from '@ambit/mesh-api';
import { Netns } from '../src/inpod/netns.js';
import { parseSharedConfig } from '../src/node/config.js';
import { NodeProxy, type MeshConfigSource } from '../src/node/node-proxy.js';
import { ZdsServer } from '../src/zds/index.js';

const quiet = { error() {}, warn() {}, info() {}, debug() {} };

test('a pod whose enrolment fails (certificate refused) is forgotten: no identity, no renewal loop', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zds-certs-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'ztunnel.sock');
  const zds = new ZdsServer({ socketPath, log: quiet });
  t.teardown(() => zds.stop());
  await zds.start();
  let fetches = 0;
  const certificateSource: CertificateSource = {
    fetch: async () => {
      fetches++;
      throw new Error('token review: service account ns1/sa1 not found');
    },
  };
  const configSource: MeshConfigSource = {
    start: async () => undefined,
    stop: async () => undefined,
    ready: async () => ({ workloads: [], services: [], policies: [] }) as unknown as MeshConfig,
    onUpdate: () => () => undefined,
  };
  const config = parseSharedConfig({ NODE_NAME: 'node-1', ZDS_SOCKET: socketPath, ADMIN_ADDR: 'off', READINESS_ADDR: 'off', STATS_ADDR: 'off' });
  const np = new NodeProxy({ config, certificateSource, configSource });
  t.teardown(() => np.stop());
  await np.start();

  const netns = Netns.open('/proc/self/ns/net');
  t.teardown(() => netns.close());
  await t.throwsAsync(zds.addWorkload({ uid: 'u1', name: 'pod-u1', namespace: 'ns1', serviceAccount: 'sa1', ip: '10.244.1.7' }, netns), { message: /not found/ });
  t.is(np.proxies.size, 0);
  t.true(fetches >= 1);
  t.is(np.certs.size, 0, 'the identity of the pod that never started is forgotten');
  t.deepEqual(np.certs.dump(), []);
  t.true(np.ready, 'a pod refused its certificate does not make the node not ready');
});
