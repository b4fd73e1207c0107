import test from 'ava';
import { mkdtempSync, readFileSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { effectiveVolumes, PodVolumes, serviceAccountMountPath, VolumeError, type ClusterData } from '../src/node/volumes.js';

function data(): ClusterData & { tokens: Array<{ audiences: string[] }> } {
  const tokens: Array<{ audiences: string[] }> = [];
  return {
    tokens,
    configMap: async (_ns, name) => (name === 'cfg' ? { 'app.conf': Buffer.from('a=1\n'), other: Buffer.from('x') } : undefined),
    secret: async (_ns, name) => (name === 'tls' ? { 'tls.key': Buffer.from('KEY') } : undefined),
    token: async (_pod, audiences) => {
      tokens.push({ audiences });
      return { token: `tok-${audiences.join(',') || 'api'}-${tokens.length}`, expiresAt: Date.now() + 3600_000 };
    },
    caCert: () => 'CA PEM',
  };
}

const pod: V1Pod = {
  metadata: { name: 'web-1', namespace: 'shop', uid: 'u1', labels: { app: 'web' } },
  spec: {
    serviceAccountName: 'web',
    containers: [
      {
        name: 'web',
        volumeMounts: [
          { name: 'cfg', mountPath: '/etc/web' },
          { name: 'tls', mountPath: '/etc/tls', readOnly: true },
          { name: 'istio-token', mountPath: '/var/run/secrets/tokens' },
          { name: 'scratch', mountPath: '/tmp/scratch' },
          { name: 'cfg', mountPath: '/etc/app.conf', subPath: 'app.conf' },
        ],
      },
    ],
    volumes: [
      { name: 'cfg', configMap: { name: 'cfg', items: [{ key: 'app.conf', path: 'app.conf' }] } },
      { name: 'tls', secret: { secretName: 'tls', defaultMode: 420 } },
      { name: 'scratch', emptyDir: {} },
      {
        name: 'istio-token',
        projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', path: 'istio-token', expirationSeconds: 43200 } }] },
      },
      { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
    ],
  },
};

test('the service-account volume is added unless disabled or already mounted', (t) => {
  const eff = effectiveVolumes(pod);
  t.is(eff.saVolume, 'kube-api-access-ambit');
  t.is(eff.volumes.length, 6);
  t.is(effectiveVolumes({ ...pod, spec: { ...pod.spec!, automountServiceAccountToken: false } }).saVolume, undefined);
  const injected: V1Pod = { ...pod, spec: { ...pod.spec!, containers: [{ name: 'c', volumeMounts: [{ name: 'kube-api-access-x', mountPath: serviceAccountMountPath }] }] } };
  t.is(effectiveVolumes(injected).saVolume, undefined);
});

test('volumes are rendered as files with their modes; mounts list every volumeMount', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-vol-'));
  const d = data();
  const v = new PodVolumes(pod, dir, d, () => ({ podIP: '10.244.1.2', hostIP: '127.0.1.1', nodeName: 'n1' }));
  await v.sync();
  t.is(readFileSync(join(dir, 'cfg', 'app.conf'), 'utf8'), 'a=1\n');
  t.false(existsSync(join(dir, 'cfg', 'other')));
  t.is(statSync(join(dir, 'tls', 'tls.key')).mode & 0o777, 0o600);
  t.is(readFileSync(join(dir, 'istio-token', 'istio-token'), 'utf8'), 'tok-istio-ca-1');
  t.is(statSync(join(dir, 'istio-token', 'istio-token')).mode & 0o777, 0o600);
  t.is(readFileSync(join(dir, 'info', 'labels'), 'utf8'), 'app="web"');
  const sa = join(dir, 'kube-api-access-ambit');
  t.is(readFileSync(join(sa, 'token'), 'utf8'), 'tok-api-2');
  t.is(readFileSync(join(sa, 'ca.crt'), 'utf8'), 'CA PEM');
  t.is(readFileSync(join(sa, 'namespace'), 'utf8'), 'shop');
  t.deepEqual(d.tokens.map((x) => x.audiences), [['istio-ca'], []]);
  await v.sync();
  t.is(d.tokens.length, 2, 'tokens are reused until 80% of their lifetime');

  const mounts = v.mountsFor(pod.spec!.containers[0]!, {});
  t.deepEqual(
    mounts.map((m) => [m.target, m.readOnly, m.kind]),
    [
      ['/etc/web', false, 'dir'],
      ['/etc/tls', true, 'dir'],
      ['/var/run/secrets/tokens', false, 'dir'],
      ['/tmp/scratch', false, 'dir'],
      ['/etc/app.conf', false, 'file'],
      [serviceAccountMountPath, true, 'dir'],
    ],
  );
  t.is(mounts[4]!.source, join(dir, 'cfg', 'app.conf'));
});

test('a missing ConfigMap is a VolumeError; optional ones are empty', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-vol-'));
  const p: V1Pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { automountServiceAccountToken: false, containers: [], volumes: [{ name: 'm', configMap: { name: 'nope' } }] } };
  await t.throwsAsync(new PodVolumes(p, dir, data(), () => ({ hostIP: 'h', nodeName: 'n' })).sync(), { instanceOf: VolumeError, message: /configmap "nope" not found/ });
  p.spec!.volumes![0]!.configMap!.optional = true;
  await new PodVolumes(p, dir, data(), () => ({ hostIP: 'h', nodeName: 'n' })).sync();
  t.true(existsSync(join(dir, 'm')));
});
