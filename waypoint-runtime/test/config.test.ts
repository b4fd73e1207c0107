import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWaypointFile, snapshotFromPush, snapshotOf } from '../src/index.js';

const example = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'bookinfo-productpage.yaml');

test('the example configuration parses into a snapshot', (t) => {
  const f = parseWaypointFile(readFileSync(example, 'utf8'));
  t.is(f.waypoint?.name, 'bookinfo-productpage');
  const s = snapshotOf(f, 'v1');
  t.is(s.mesh.services?.[0]?.hostname, 'productpage.default.svc.cluster.local');
  t.is(s.resources[0]?.kind, 'AuthorizationPolicy');
});

test('bad files are rejected with a message that says what is wrong', (t) => {
  t.throws(() => parseWaypointFile('nonsense: 1\n'), { message: 'config file: unknown key "nonsense"' });
  t.throws(() => parseWaypointFile('resources: {a: 1}\n'), { message: 'config file: resources must be a list of Kubernetes objects' });
  t.throws(() => parseWaypointFile('resources: [{kind: X}]\n'), { message: 'config file: resources[0] needs apiVersion, kind and metadata.name' });
  t.throws(() => parseWaypointFile('- a\n'), { message: 'config file: expected a YAML mapping' });
});

test('binding: from a file (validated) and from the controller push; absent in a file means all of its mesh', (t) => {
  t.is(snapshotOf(parseWaypointFile('mesh: {}\n')).binding, undefined);
  const f = parseWaypointFile('binding: {services: [default/productpage.default.svc.cluster.local]}\n');
  t.deepEqual(snapshotOf(f).binding, { services: ['default/productpage.default.svc.cluster.local'], workloads: [] });
  t.throws(() => parseWaypointFile('binding: [a]\n'), { message: 'config file: binding must be {services: [ns/hostname, ...], workloads: [uid, ...]}' });
  t.throws(() => parseWaypointFile('binding: {workloads: [1]}\n'), { message: /binding must be/ });
  const pushed = snapshotFromPush({
    waypoint: { name: 'w', namespace: 'default', gatewayClassName: 'istio-waypoint', trafficType: 'service', services: ['default/a.default.svc.cluster.local'], workloads: ['uid-1'] },
    workloads: [],
    services: [],
    resources: [],
  });
  t.deepEqual(pushed.binding, { services: ['default/a.default.svc.cluster.local'], workloads: ['uid-1'] });
});
