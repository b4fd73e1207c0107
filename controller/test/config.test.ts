// The controller's environment: every documented variable is read, with its default when unset, and a bad value
// is refused with one line naming the variable and what it accepts.
import test from 'ava';
import { ConfigError, ENVIRONMENT, parseControllerConfig, type ControllerConfig } from '../src/config.js';

test('defaults, as the manifests and Istio have them', (t) => {
  const c = parseControllerConfig({});
  t.like(c, {
    systemNamespace: 'istio-system',
    clusterDomain: 'cluster.local',
    logLevel: 'info',
    waypointImage: undefined,
    monitoringPort: 15014,
    caPort: 15012,
    trustDomain: 'cluster.local',
    trustedNodeAccounts: ['istio-system/ztunnel'],
    defaultCertTtlSeconds: undefined,
    maxCertTtlSeconds: undefined,
    enableDryRunAuthorizationPolicy: false,
  });
  t.regex(c.identity, /^.+_\d+$/);
  // The trusted node account follows the system namespace.
  t.deepEqual(parseControllerConfig({ POD_NAMESPACE: 'mesh' }).trustedNodeAccounts, ['mesh/ztunnel']);
});

/** Each documented variable, a value, and what the config must then hold. */
const READS: Record<string, [string, Partial<ControllerConfig>]> = {
  POD_NAME: ['istiod-abc', { identity: 'istiod-abc' }],
  POD_NAMESPACE: ['mesh-system', { systemNamespace: 'mesh-system' }],
  CLUSTER_DOMAIN: ['example.org', { clusterDomain: 'example.org' }],
  AMBIT_LOG_LEVEL: ['debug', { logLevel: 'debug' }],
  AMBIT_WAYPOINT_IMAGE: ['registry.example.com/ambit/waypoint:1.2', { waypointImage: 'registry.example.com/ambit/waypoint:1.2' }],
  AMBIT_MONITORING_PORT: ['9090', { monitoringPort: 9090 }],
  AMBIT_CA_PORT: ['0', { caPort: 0 }],
  TRUST_DOMAIN: ['corp.example', { trustDomain: 'corp.example' }],
  CA_TRUSTED_NODE_ACCOUNTS: ['istio-system/ztunnel, kube-system/node-proxy', { trustedNodeAccounts: ['istio-system/ztunnel', 'kube-system/node-proxy'] }],
  DEFAULT_WORKLOAD_CERT_TTL: ['12h', { defaultCertTtlSeconds: 43_200 }],
  MAX_WORKLOAD_CERT_TTL: ['3600', { maxCertTtlSeconds: 3600 }],
  AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY: ['true', { enableDryRunAuthorizationPolicy: true }],
};

test('every documented variable is read', (t) => {
  t.deepEqual(Object.keys(READS).sort(), ENVIRONMENT.map((e) => e.name).sort());
  for (const [name, [value, expected]] of Object.entries(READS)) t.like(parseControllerConfig({ [name]: value }), expected, name);
});

test('an empty variable is an unset one', (t) => {
  t.deepEqual({ ...parseControllerConfig(Object.fromEntries(ENVIRONMENT.map((e) => [e.name, '']))), identity: '' }, { ...parseControllerConfig({}), identity: '' });
});

test('flags win over the environment', (t) => {
  t.like(parseControllerConfig({ POD_NAMESPACE: 'a', AMBIT_MONITORING_PORT: 'x' }, { systemNamespace: 'b', monitoringPort: -1 }), { systemNamespace: 'b', monitoringPort: -1 });
});

const BAD: Record<string, string> = {
  POD_NAMESPACE: 'Istio_System',
  CLUSTER_DOMAIN: 'cluster..local',
  AMBIT_LOG_LEVEL: 'verbose',
  AMBIT_MONITORING_PORT: '15014x',
  AMBIT_CA_PORT: '70000',
  TRUST_DOMAIN: 'not a domain',
  CA_TRUSTED_NODE_ACCOUNTS: 'ztunnel',
  DEFAULT_WORKLOAD_CERT_TTL: '1d',
  MAX_WORKLOAD_CERT_TTL: '500ms',
  AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY: 'yes',
};

test('a bad value is one line naming the variable and what it accepts', (t) => {
  for (const [name, value] of Object.entries(BAD)) {
    const err = t.throws(() => parseControllerConfig({ [name]: value }), { instanceOf: ConfigError }, name);
    const accepts = ENVIRONMENT.find((e) => e.name === name)!.accepts;
    t.is(err?.message, `${name}=${JSON.stringify(value)} is not valid: expected ${accepts}`);
    t.false(err!.message.includes('\n'));
  }
  t.is(
    t.throws(() => parseControllerConfig({ AMBIT_LOG_LEVEL: 'verbose' }))?.message,
    'AMBIT_LOG_LEVEL="verbose" is not valid: expected debug, info, warn or error',
  );
});
