// ambit-cni: the chained CNI plugin (Istio's istio-cni plugin role). ADD passes prevResult through unchanged after
// the node agent has put the pod into the mesh (POST to its Unix socket, which programs the pod's netns before the
// sandbox's containers start). When the agent cannot be reached, a pod that wants ambient must not start
// unprotected (Istio's rule): the plugin asks the API server and fails the ADD for an enrolled pod. DEL notifies the
// agent best-effort and always succeeds. Node builtins and ../../inpod/enrollment.js only: this runs from a copy on
// the host, next to a copy of Node (see ../plugin-files.ts).
import { type NamespaceLike, type PodLike, enrollmentDecision } from '../../inpod/enrollment.js';
import { AgentUnreachableError, postEvent } from './agent-client.js';
import { CniError, errorJson, ipsOf, readCniEnv, versionJson } from './cni.js';
import { ADD_PATH, DEFAULT_EVENT_SOCKET, DEFAULT_EVENT_TIMEOUT_MS, DEL_PATH, type PluginEntry, type PluginEvent } from './config.js';
import { getObject, loadKubeconfig } from './kube.js';

export interface CniOutcome {
  stdout: string;
  code: number;
}

interface StdinConfig extends Partial<PluginEntry> {
  cniVersion?: string;
  name?: string;
  prevResult?: Record<string, unknown>;
}

const DEL_TIMEOUT_MS = 2_000;

export async function runCni(env: NodeJS.ProcessEnv, stdin: string): Promise<CniOutcome> {
  const cni = readCniEnv(env);
  let conf: StdinConfig;
  try {
    conf = stdin.trim() ? (JSON.parse(stdin) as StdinConfig) : {};
    if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) throw new Error('not an object');
  } catch (e) {
    return { stdout: errorJson('1.0.0', 'ambit-cni: the network config on stdin is not a JSON object', (e as Error).message), code: 1 };
  }
  const version = typeof conf.cniVersion === 'string' ? conf.cniVersion : '1.0.0';
  try {
    switch (cni.command) {
      case 'VERSION':
        return { stdout: versionJson(version), code: 0 };
      case 'ADD':
        return { stdout: await add(cni, conf), code: 0 };
      case 'DEL':
        await del(cni, conf);
        return { stdout: '', code: 0 };
      case 'CHECK':
      case 'GC':
      case 'STATUS':
        return { stdout: '', code: 0 };
      default:
        throw new CniError(`ambit-cni: unknown CNI_COMMAND "${cni.command}" (expected ADD, DEL, CHECK or VERSION)`);
    }
  } catch (e) {
    return { stdout: errorJson(version, (e as Error).message, e instanceof CniError ? e.details : ''), code: 1 };
  }
}

function eventOf(cni: ReturnType<typeof readCniEnv>, ips: string[]): PluginEvent {
  return {
    podName: cni.args.K8S_POD_NAME ?? '',
    podNamespace: cni.args.K8S_POD_NAMESPACE ?? '',
    podUid: cni.args.K8S_POD_UID ?? '',
    netns: cni.netns,
    containerId: cni.containerId || (cni.args.K8S_POD_INFRA_CONTAINER_ID ?? ''),
    ifname: cni.ifname,
    ips,
  };
}

function excluded(conf: StdinConfig, namespace: string): boolean {
  const list = conf.kubernetes?.exclude_namespaces ?? ['kube-system'];
  return list.includes(namespace);
}

async function add(cni: ReturnType<typeof readCniEnv>, conf: StdinConfig): Promise<string> {
  if (!conf.prevResult || typeof conf.prevResult !== 'object') {
    throw new CniError('ambit-cni must run chained after the primary CNI plugin (no prevResult in its config)');
  }
  const out = JSON.stringify(conf.prevResult) + '\n';
  const ev = eventOf(cni, ipsOf(conf.prevResult));
  // Not a Kubernetes pod (no K8S_POD_* args), or a namespace that is never blocked: nothing to do.
  if (!ev.podName || !ev.podNamespace || excluded(conf, ev.podNamespace)) return out;
  const socket = conf.cni_event_address || DEFAULT_EVENT_SOCKET;
  const timeout = conf.cni_event_timeout_ms ?? DEFAULT_EVENT_TIMEOUT_MS;
  const pod = `${ev.podNamespace}/${ev.podName}`;
  let reply;
  try {
    reply = await postEvent(socket, ADD_PATH, ev, timeout);
  } catch (e) {
    if (!(e instanceof AgentUnreachableError)) throw new CniError(`ambit node agent at ${socket} failed for pod ${pod}: ${(e as Error).message}`);
    await refuseIfAmbient(conf, ev, socket, timeout);
    return out;
  }
  if (reply.status < 200 || reply.status > 299) {
    const reason = reply.body.trim().split('\n')[0] || `HTTP ${reply.status}`;
    throw new CniError(`ambit node agent could not add pod ${pod} to the mesh: ${reason}`);
  }
  return out;
}

/** The agent is down: read the pod and its namespace; an ambient pod must not start without its rules. */
async function refuseIfAmbient(conf: StdinConfig, ev: PluginEvent, socket: string, timeout: number): Promise<void> {
  const pod = `${ev.podNamespace}/${ev.podName}`;
  let decision;
  try {
    const kubeconfig = conf.kubernetes?.kubeconfig;
    if (!kubeconfig) throw new Error('no kubernetes.kubeconfig in the plugin config');
    const kc = loadKubeconfig(kubeconfig);
    const ns = encodeURIComponent(ev.podNamespace);
    const [p, n] = await Promise.all([
      getObject<PodLike>(kc, `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(ev.podName)}`, timeout),
      getObject<NamespaceLike>(kc, `/api/v1/namespaces/${ns}`, timeout),
    ]);
    if (!p) return; // no such pod: nothing to protect
    decision = enrollmentDecision(p, n);
  } catch (e) {
    throw new CniError(
      `ambit node agent not reachable at ${socket}, and the API server could not tell whether pod ${pod} wants ambient: refusing to start it unprotected`,
      (e as Error).message,
    );
  }
  if (decision.enroll) {
    throw new CniError(`ambit node agent not reachable at ${socket}; pod ${pod} wants ambient: refusing to start it unprotected`, `enrollment: ${decision.reason}`);
  }
}

async function del(cni: ReturnType<typeof readCniEnv>, conf: StdinConfig): Promise<void> {
  const ev = eventOf(cni, []);
  if (!ev.podName || !ev.podNamespace || excluded(conf, ev.podNamespace)) return;
  await postEvent(conf.cni_event_address || DEFAULT_EVENT_SOCKET, DEL_PATH, ev, DEL_TIMEOUT_MS).catch(() => undefined);
}
