// The control plane's serving side as controller components (picked up by main.ts from src/ca/index.ts):
// the CA on :15012, the config push stream on the same port, and the mesh model watcher feeding it.
// They run on every replica (not leader-only): each replica serves the clients connected to it.

import type { Component, ComponentContext } from '../kube/component.js';
import { MeshWatcher } from '../mesh/watch.js';
import { kubeServiceAccountLookup, PushComponent } from '../push/index.js';
import { CaComponent } from './index.js';

/** Go-style durations (`24h`, `90m`, `3600s`) or plain seconds. */
export function parseDurationSeconds(v: string | undefined): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(h|m|s)/g;
  let m: RegExpExecArray | null;
  let matched = '';
  while ((m = re.exec(v))) {
    total += Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
    matched += m[0];
  }
  return matched === v ? total : undefined;
}

export interface ControlPlane {
  ca: CaComponent;
  push: PushComponent;
  mesh: MeshWatcher;
  components: Component[];
}

/**
 * Environment (Istio's names where it has them): AMBIT_CA_PORT (15012), TRUST_DOMAIN (cluster.local),
 * CA_TRUSTED_NODE_ACCOUNTS (`istio-system/ztunnel`, comma-separated), DEFAULT_WORKLOAD_CERT_TTL (24h),
 * MAX_WORKLOAD_CERT_TTL (90d = 2160h), AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY.
 */
export function createControlPlane(ctx: ComponentContext): ControlPlane {
  const env = ctx.env;
  const log = ctx.log;
  const trustDomain = env.TRUST_DOMAIN || 'cluster.local';
  const trusted = env.CA_TRUSTED_NODE_ACCOUNTS ? env.CA_TRUSTED_NODE_ACCOUNTS.split(',').map((s) => s.trim()).filter(Boolean) : [`${ctx.systemNamespace}/ztunnel`];
  let push: PushComponent | undefined;
  const mesh = new MeshWatcher({
    client: ctx.client,
    onModel: (m) => push?.update(m),
    mesh: { trustDomain, domainSuffix: ctx.clusterDomain, rootNamespace: ctx.systemNamespace, enableDryRun: env.AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY === 'true' },
    log: log.child('mesh'),
  });
  const ca = new CaComponent({
    client: ctx.client,
    namespace: ctx.systemNamespace,
    port: Number(env.AMBIT_CA_PORT ?? 15012),
    trustDomain,
    trustedNodeAccounts: trusted,
    defaultTtlSeconds: parseDurationSeconds(env.DEFAULT_WORKLOAD_CERT_TTL),
    maxTtlSeconds: parseDurationSeconds(env.MAX_WORKLOAD_CERT_TTL),
    servingDnsNames: ['istiod', `istiod.${ctx.systemNamespace}`, `istiod.${ctx.systemNamespace}.svc`, `istiod.${ctx.systemNamespace}.svc.${ctx.clusterDomain}`, 'localhost'],
    pods: mesh.podLookup(),
    log: log.child('ca'),
  });
  const components: Component[] = [
    { name: 'ca', start: () => ca.start(), stop: () => ca.stop() },
    {
      name: 'config-push',
      start: async () => {
        push = new PushComponent({
          server: ca.server,
          authenticator: ca.authenticator,
          pods: ca.pods,
          trustedNodeAccounts: trusted,
          serviceAccounts: kubeServiceAccountLookup(ctx.client),
          log: log.child('push'),
        });
        await push.start();
      },
      stop: async () => push?.stop(),
    },
    { name: 'mesh-model', start: () => mesh.start(), stop: () => mesh.stop(), ready: () => mesh.model !== undefined },
  ];
  return {
    ca,
    get push() {
      if (!push) throw new Error('config push not started');
      return push;
    },
    mesh,
    components,
  };
}
