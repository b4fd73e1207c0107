// The administrator's plugin allow-list as the waypoint reads it from ConfigMap istio-system/ambit-plugin-policy.
import test from 'ava';
import type { K8sObject } from '@ambit/plugin-sdk';
import { findPluginPolicy, namespaceAllowed, packageAllowed, parseNamespaceList, refusePackage, sourceAllowed } from '../src/index.js';

const cm = (namespace: string, data: Record<string, string>): K8sObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ambit-plugin-policy', namespace }, data }) as unknown as K8sObject;

test('the ConfigMap of the root namespace is the policy: one entry per line, # comments and blank lines ignored', (t) => {
  const policy = findPluginPolicy([cm('default', { packages: '*' }), cm('istio-system', { packages: '# ours\n@acme/*\n\n  left-pad  # pinned\n', sources: 'https://registry.npmjs.org/\n' })], 'istio-system');
  t.deepEqual(policy, { packages: ['@acme/*', 'left-pad'], sources: ['https://registry.npmjs.org/'] });
  t.is(findPluginPolicy([cm('default', { packages: '*' })], 'istio-system'), undefined);
});

test('package names: exact, a scope, or *; a scope does not admit a look-alike scope', (t) => {
  const p = { packages: ['@acme/*', 'left-pad'], sources: [] };
  t.true(packageAllowed(p, '@acme/rate-limit'));
  t.true(packageAllowed(p, 'left-pad'));
  t.false(packageAllowed(p, '@acme-evil/rate-limit'));
  t.false(packageAllowed(p, 'left-pad-evil'));
  t.false(packageAllowed(undefined, 'left-pad'));
  t.true(packageAllowed({ packages: ['*'], sources: [] }, 'anything'));
});

test('sources are URL prefixes ending at a path segment; .. and encoded .. cannot climb out', (t) => {
  const p = { packages: [], sources: ['https://registry.npmjs.org', 'file:///var/lib/plugins/'] };
  t.true(sourceAllowed(p, 'https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz'));
  t.false(sourceAllowed(p, 'https://registry.npmjs.org.evil.example/left-pad.tgz'));
  t.true(sourceAllowed(p, 'file:///var/lib/plugins/a.tgz'));
  t.false(sourceAllowed(p, 'file:///var/lib/plugins/../../run/secrets/token'));
  t.false(sourceAllowed(p, 'file:///var/lib/plugins/%2e%2e/%2e%2e/run/secrets/token'));
  t.false(sourceAllowed(p, 'file:///var/lib/plugins-evil/a.tgz'));
  t.false(sourceAllowed(p, 'not a url'));
});

test('refusals name what is wrong and what to do', (t) => {
  const p = { packages: ['@acme/*'], sources: ['https://registry.npmjs.org/'] };
  t.like(refusePackage(p, { name: '@acme/x' }, 'istio-system', 'https://registry.npmjs.org/'), { reason: 'IntegrityRequired' });
  t.is(refusePackage(p, { name: '@acme/x', integrity: 'sha512-x' }, 'istio-system', 'https://registry.npmjs.org/'), undefined);
  t.like(refusePackage(p, { name: '@acme/x', integrity: 'sha512-x', url: 'https://evil.example/x.tgz' }, 'istio-system', 'https://registry.npmjs.org/'), { reason: 'NotAllowed', message: 'source https://evil.example/x.tgz is not in the allow-list (data.sources of ConfigMap istio-system/ambit-plugin-policy)' });
  t.like(refusePackage(p, { name: '@acme/x', integrity: 'sha512-x' }, 'istio-system', 'https://npm.internal/'), { reason: 'NotAllowed' });
});

test("namespaces: the waypoint's own and the root namespace always; others only as its owner lists them", (t) => {
  const w = { namespace: 'shared', rootNamespace: 'istio-system' };
  t.true(namespaceAllowed('shared', w, []));
  t.true(namespaceAllowed('istio-system', w, []));
  t.false(namespaceAllowed('team-a', w, []));
  t.true(namespaceAllowed('team-a', w, parseNamespaceList(' team-a, team-b ')));
  t.false(namespaceAllowed('team-c', w, parseNamespaceList('team-a,team-b')));
  t.true(namespaceAllowed('team-c', w, parseNamespaceList('*')));
});
