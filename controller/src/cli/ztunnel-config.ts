// `ambit ztunnel-config workloads|services|policies|certificates`: istioctl's tables over a ztunnel's admin
// `/config_dump` (port 15000, localhost inside the ztunnel pod), read through the API server with `pods/exec`.
// Private keys are never part of the dump and never printed.
import { PassThrough } from 'node:stream';
import { Exec, type V1Status } from '@kubernetes/client-node';
import type { KubeClient } from '../kube/client.js';
import { toKubeConfig } from '../kube/kubeconfig.js';
import { R, type KubeObject } from '../kube/resources.js';
import { tabwrite } from './format.js';
import { CliError } from './waypoint.js';

interface GatewayAddress { destination: string; hboneMtlsPort?: number }
export interface DumpWorkload {
  uid: string;
  name: string;
  namespace: string;
  workloadIps?: string[];
  protocol?: string;
  node?: string;
  waypoint?: GatewayAddress;
}
export interface DumpService {
  name: string;
  namespace: string;
  hostname: string;
  vips?: string[];
  waypoint?: GatewayAddress;
  endpoints?: Record<string, { workloadUid: string; status?: string }>;
}
export interface DumpPolicy { name: string; namespace: string; action: string; scope: string }
export interface DumpCertificate {
  identity: string;
  state: string;
  certChain?: { pem?: string; notBefore: string; notAfter: string; serial: string }[];
  /** The roots, apart from the chain (as ztunnel's dump has them). */
  rootCerts?: { pem?: string; notBefore: string; notAfter: string; serial: string }[];
  roots?: string[];
}
export interface ConfigDump {
  workloads?: DumpWorkload[];
  services?: DumpService[];
  policies?: DumpPolicy[];
  certificates?: DumpCertificate[];
}

export const ZTUNNEL_CONFIG_KINDS = ['workloads', 'services', 'policies', 'certificates'] as const;
export type ZtunnelConfigKind = (typeof ZTUNNEL_CONFIG_KINDS)[number];

/** `network/ip` -> `ip`. */
const ipOf = (addr: string): string => addr.slice(addr.lastIndexOf('/') + 1);

/** The waypoint's name, as istioctl shows it: the service whose VIP the waypoint address is, else the address; `None` without one. */
function waypointName(dump: ConfigDump, w: GatewayAddress | undefined): string {
  if (!w?.destination) return 'None';
  const ip = ipOf(w.destination);
  const svc = (dump.services ?? []).find((s) => (s.vips ?? []).some((v) => ipOf(v) === ip));
  return svc ? svc.name : ip;
}

const byNsName = <T extends { namespace: string; name: string }>(a: T, b: T) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);

export function renderWorkloads(dump: ConfigDump, namespace?: string): string {
  const rows = (dump.workloads ?? [])
    .filter((w) => !namespace || w.namespace === namespace)
    .sort(byNsName)
    .map((w) => [w.namespace, w.name, (w.workloadIps ?? []).join(','), w.node ?? '', waypointName(dump, w.waypoint), w.protocol ?? 'TCP']);
  return tabwrite([['NAMESPACE', 'POD NAME', 'ADDRESS', 'NODE', 'WAYPOINT', 'PROTOCOL'], ...rows]);
}

export function renderServices(dump: ConfigDump, namespace?: string): string {
  const rows = (dump.services ?? [])
    .filter((s) => !namespace || s.namespace === namespace)
    .sort(byNsName)
    .map((s) => {
      const eps = Object.values(s.endpoints ?? {});
      const healthy = eps.filter((e) => (e.status ?? 'Healthy') === 'Healthy').length;
      return [s.namespace, s.name, (s.vips ?? []).map(ipOf).join(','), waypointName(dump, s.waypoint), `${healthy}/${eps.length}`];
    });
  return tabwrite([['NAMESPACE', 'SERVICE NAME', 'SERVICE VIP', 'WAYPOINT', 'ENDPOINTS'], ...rows]);
}

export function renderPolicies(dump: ConfigDump, namespace?: string): string {
  const rows = (dump.policies ?? [])
    .filter((p) => !namespace || p.namespace === namespace)
    .sort(byNsName)
    .map((p) => [p.namespace, p.name, p.action, p.scope]);
  return tabwrite([['NAMESPACE', 'POLICY NAME', 'ACTION', 'SCOPE'], ...rows]);
}

/** One row per certificate of each chain (Leaf, then CA), as istioctl; serials in lower-case hex. */
export function renderCertificates(dump: ConfigDump, namespace?: string, now = new Date()): string {
  const rows: string[][] = [];
  const certs = (dump.certificates ?? [])
    .filter((c) => !namespace || c.identity.includes(`/ns/${namespace}/`))
    .sort((a, b) => a.identity.localeCompare(b.identity));
  for (const c of certs) {
    const chain = c.certChain ?? [];
    if (chain.length === 0) rows.push([c.identity, 'Leaf', c.state, 'false', '', '', '']);
    const row = (x: (typeof chain)[number], type: string) => {
      const valid = new Date(x.notBefore) <= now && now < new Date(x.notAfter);
      rows.push([c.identity, type, c.state, String(valid), x.serial.toLowerCase(), x.notAfter, x.notBefore]);
    };
    // The chain (leaf, intermediates) then the roots, which the dump keeps apart; an older dump had the root last in
    // the chain and no rootCerts.
    const roots = c.rootCerts ?? [];
    chain.forEach((x, i) => row(x, i === 0 ? 'Leaf' : roots.length === 0 && i === chain.length - 1 ? 'Root' : 'Intermediate'));
    for (const x of roots) row(x, 'Root');
  }
  return tabwrite([['CERTIFICATE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE'], ...rows]);
}

export function renderZtunnelConfig(kind: ZtunnelConfigKind, dump: ConfigDump, namespace?: string): string {
  switch (kind) {
    case 'workloads':
      return renderWorkloads(dump, namespace);
    case 'services':
      return renderServices(dump, namespace);
    case 'policies':
      return renderPolicies(dump, namespace);
    case 'certificates':
      return renderCertificates(dump, namespace);
  }
}

type PodObject = KubeObject & { spec?: { nodeName?: string; containers?: { name: string }[] }; status?: { phase?: string } };

/** The ztunnel pod to ask: the one on `node`, else the first running one. */
export async function findZtunnelPod(client: KubeClient, istioNamespace: string, node?: string): Promise<PodObject> {
  const list = await client.listAll<PodObject>(R.pod, istioNamespace, { labelSelector: 'app=ztunnel' });
  const pods = list.items.filter((p) => p.status?.phase === 'Running').sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
  if (pods.length === 0) throw new CliError(`no running ztunnel pods found in namespace ${istioNamespace}`);
  if (!node) return pods[0]!;
  const p = pods.find((x) => x.spec?.nodeName === node);
  if (!p) throw new CliError(`no running ztunnel pod found on node ${node}`);
  return p;
}

/**
 * The ztunnel's admin endpoint (127.0.0.1:15000/config_dump, inside its pod) read through `kubectl exec`, with the
 * client's credentials. The image has Node but no curl, so Node's own fetch reads it.
 */
const READ_CONFIG_DUMP = [
  'node',
  '-e',
  "fetch('http://127.0.0.1:15000/config_dump',{signal:AbortSignal.timeout(10000)}).then(r=>r.text()).then(t=>process.stdout.write(t),e=>{process.stderr.write(String(e.message)+'\\n');process.exit(1)})",
];

export async function fetchConfigDump(client: KubeClient, pod: PodObject, timeoutMs = 30_000): Promise<ConfigDump> {
  const exec = new Exec(await toKubeConfig(client.access));
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: Buffer[] = [];
  let errText = '';
  out.on('data', (c: Buffer) => chunks.push(c));
  err.on('data', (c: Buffer) => (errText += c.toString()));
  const container = pod.spec?.containers?.[0]?.name ?? 'istio-proxy';
  const name = `${pod.metadata.namespace}/${pod.metadata.name}`;
  const status = await new Promise<V1Status>((resolve, reject) => {
    const timer = setTimeout(() => reject(new CliError(`timed out reading the config dump of ztunnel ${name}`)), timeoutMs);
    exec
      .exec(pod.metadata.namespace!, pod.metadata.name!, container, READ_CONFIG_DUMP, out, err, null, false, (s) => {
        clearTimeout(timer);
        resolve(s);
      })
      .then((ws) => ws.on('close', () => setTimeout(() => resolve({ status: 'Success' }), 50)))
      .catch((e: unknown) => {
        clearTimeout(timer);
        reject(new CliError(`cannot exec into ztunnel ${name}: ${describeExecError(e)}`));
      });
  });
  if (status.status !== 'Success') throw new CliError(`reading the config dump of ztunnel ${name} failed: ${status.message ?? status.reason ?? 'unknown error'}${errText ? ` (${errText.trim()})` : ''}`);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as ConfigDump;
  } catch {
    throw new CliError(`ztunnel ${name} returned no config dump${text ? `: ${text.trim().split('\n')[0]}` : ''}`);
  }
}

function describeExecError(e: unknown): string {
  if (e && typeof e === 'object' && 'message' in e && typeof (e as Error).message === 'string') return (e as Error).message.split('\n')[0]!;
  return String(e);
}
