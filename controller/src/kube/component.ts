// The controller process is a set of components with start/stop. Components marked leaderOnly run only on the
// replica holding the leader Lease; the others (servers such as the CA or the config push) run on every replica.
import type { KubeClient } from './client.js';
import type { Logger } from './log.js';
import type { Registry } from './metrics.js';

export interface ComponentContext {
  client: KubeClient;
  log: Logger;
  registry: Registry;
  /** Namespace the control plane runs in (istio-system). */
  systemNamespace: string;
  clusterDomain: string;
  /** This build's version (image tags). */
  version: string;
  /** The kubeconfig file given to the process, if any (else in-cluster / KUBECONFIG), for components that build their own client. */
  kubeconfig?: string;
  /** Process arguments and environment knobs, for components that read their own. */
  env: NodeJS.ProcessEnv;
}

export interface Component {
  name: string;
  /** Run only while this replica is the elected leader. */
  leaderOnly?: boolean;
  /** Starts the component; `signal` aborts when it must stop (leadership lost or shutdown). */
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
  /** Optional readiness for /ready. */
  ready?(): boolean;
}

/** What a module under src/ca, src/push or src/mesh exports for main.ts to pick up. */
export type ComponentFactory = (ctx: ComponentContext) => Component[] | Promise<Component[]>;
