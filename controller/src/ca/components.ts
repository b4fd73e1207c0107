// The control plane's serving side as controller components (picked up by main.ts from src/ca/index.ts):
// the CA on :15012, the config push stream on the same port, and the mesh model watcher feeding it.
// They run on every replica (not leader-only): each replica serves the clients connected to it.

import { parseGoDuration, tryParseGoDuration } from '@ambit/mesh-api';
import type { Component, ComponentContext } from '../kube/component.js';
import { MeshWatcher } from '../mesh/watch.js';
import { kubeServiceAccountLookup, PushComponent } from '../push/index.js';
import { CaComponent } from './index.js';

/** A Go duration (`24h`, `90m`, `3600s`) or plain seconds, in seconds; undefined when absent or not a duration. */
export function parseDurationSeconds(v: string | undefined): number | undefined {
  const ms = tryParseGoDuration(v, { bareNumber: 's' });
  return ms === undefined ? undefined : ms / 1000;
}

/** A TTL variable: one that is set but is no duration is ignored (the CA's default applies), with a warning saying why. */
function ttlSeconds(env: NodeJS.ProcessEnv, name: string, log: ComponentContext['log']): number | undefined {
  const v = env[name];
  if (!v) return undefined;
  try {
    return parseGoDuration(v, { bareNumber: 's' }) / 1000;
  } catch (err) {
    log.warn(`ignoring ${name}`, { error: (err as Error).message });
    return undefined;
  }
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
    defaultTtlSeconds: ttlSeconds(env, 'DEFAULT_WORKLOAD_CERT_TTL', log),
    maxTtlSeconds: ttlSeconds(env, 'MAX_WORKLOAD_CERT_TTL', log),
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
