import test from 'ava';
import { LEGACY_VERSION, LEGACY_WARNING, legacyGatewayVersion } from '../src/install/legacy-gateway-version.js';

const crd = () => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'gateways.gateway.networking.k8s.io' },
  spec: {
    versions: [
      {
        name: 'v1', served: true, storage: true,
        schema: { openAPIV3Schema: { properties: { spec: {
          required: ['gatewayClassName', 'listeners'],
          properties: { listeners: { type: 'array', minItems: 1 } },
          'x-kubernetes-validations': [
            { rule: 'self.listeners.all(l, l.port > 0)' },
            { rule: '!has(self.listeners) || self.listeners.size() < 65' },
            { rule: 'has(self.gatewayClassName)' },
          ],
        } } } },
      },
      { name: 'v1beta1', served: true, storage: false },
    ],
  },
});

test('v1alpha2 is derived from v1: served, not stored, deprecated, listeners optional', (t) => {
  const v = legacyGatewayVersion(crd())!;
  t.is(v.name, LEGACY_VERSION);
  t.true(v.served);
  t.false(v.storage);
  t.is(v.deprecationWarning, LEGACY_WARNING);
  const spec = v.schema!.openAPIV3Schema!.properties!.spec;
  t.deepEqual(spec.required, ['gatewayClassName']);
  t.is(spec.properties!.listeners.minItems, undefined);
  t.deepEqual((spec['x-kubernetes-validations'] as { rule: string }[]).map((r) => r.rule), ['!has(self.listeners) || self.listeners.size() < 65', 'has(self.gatewayClassName)']);
});

test('the v1 schema itself is left as it was', (t) => {
  const c = crd();
  legacyGatewayVersion(c);
  t.deepEqual(c.spec.versions[0].schema!.openAPIV3Schema!.properties!.spec.required, ['gatewayClassName', 'listeners']);
});

test('nothing to add when v1alpha2 is already served', (t) => {
  const c = crd();
  c.spec.versions.push({ name: 'v1alpha2', served: true, storage: false });
  t.is(legacyGatewayVersion(c), undefined);
});

test('a CRD without v1 is refused with a message naming what to install', (t) => {
  const c = crd();
  c.spec.versions = c.spec.versions.filter((v) => v.name !== 'v1');
  t.throws(() => legacyGatewayVersion(c), { message: /no v1 version: install Gateway API v1.0 or newer/ });
});
