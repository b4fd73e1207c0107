// `ambit waypoint …`: istioctl's waypoint commands (reference section 2), against the Gateway API.
import { stringify } from 'yaml';
import { KubeClient, KubeError } from '../kube/client.js';
import { R, type Condition } from '../kube/resources.js';
import { CLASS_MESH, CLASS_WAYPOINT, A, L, PORT_HBONE, PROTOCOL_HBONE, TRAFFIC_TYPES, WAYPOINT_CLASSES } from '../gateway/constants.js';
import type { Gateway } from '../gateway/types.js';
import { tabwrite } from './format.js';

export class CliError extends Error {}

export interface Out {
  out(s: string): void;
  err(s: string): void;
}

export interface GatewayFlags {
  name: string;
  namespace: string;
  for?: string;
  revision?: string;
  serviceAccount?: string;
}

export function validateTrafficType(t: string | undefined): void {
  if (t !== undefined && !(TRAFFIC_TYPES as readonly string[]).includes(t)) {
    throw new CliError(`invalid traffic type: ${t}. Valid options are: [${TRAFFIC_TYPES.join(' ')}]`);
  }
}

/**
 * The Gateway `waypoint apply|generate` writes. Today's form: class istio-waypoint, named by --name (default
 * `waypoint`). With --service-account (the 2024 `istioctl x waypoint apply --service-account` form): named after the
 * service account, class istio-mesh, annotation istio.io/service-account.
 */
export function makeGateway(f: GatewayFlags): Gateway {
  const labels: Record<string, string> = {};
  if (f.for) labels[L.waypointFor] = f.for;
  if (f.revision) labels[L.rev] = f.revision;
  const gw: Gateway = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: f.name, namespace: f.namespace },
    spec: { gatewayClassName: f.serviceAccount ? CLASS_MESH : CLASS_WAYPOINT, listeners: [{ name: 'mesh', port: PORT_HBONE, protocol: PROTOCOL_HBONE }] },
  };
  if (Object.keys(labels).length) gw.metadata.labels = labels;
  if (f.serviceAccount) gw.metadata.annotations = { [A.legacyServiceAccount]: f.serviceAccount };
  return gw;
}

export function generateYaml(gw: Gateway): string {
  return stringify(gw);
}

const isWaypoint = (g: Gateway) => (WAYPOINT_CLASSES as readonly string[]).includes(g.spec?.gatewayClassName);
const programmedOf = (g: Gateway): Condition | undefined => g.status?.conditions?.find((c) => c.type === 'Programmed');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function crdMissing(err: unknown): CliError | undefined {
  if (err instanceof KubeError && err.notFound && !err.details) {
    return new CliError(`missing Kubernetes Gateway CRDs need to be installed before applying a waypoint: ${err.message}`);
  }
  return undefined;
}

export interface ApplyFlags extends GatewayFlags {
  wait: boolean;
  timeoutMs: number;
  enrollNamespace: boolean;
  overwrite: boolean;
  pollMs?: number;
}

export async function applyWaypoint(client: KubeClient, f: ApplyFlags, io: Out): Promise<void> {
  const ns = f.namespace;
  if (f.enrollNamespace) {
    const nsObj = await client.get(R.namespace, undefined, ns);
    if (nsObj.metadata.labels?.[L.useWaypoint] && !f.overwrite) {
      io.out(`Warning: namespace (${ns}) already has an enrolled Waypoint. Consider adding the \`--overwrite\` flag to your apply command.\n`);
      return;
    }
    if (nsObj.metadata.labels?.[L.dataplaneMode] !== 'ambient') {
      io.out(`Warning: namespace is not enrolled in ambient. Consider running\t\`kubectl label namespace ${ns} istio.io/dataplane-mode=ambient\`\n`);
    }
  }
  const gw = makeGateway(f);
  try {
    await client.apply(R.gateway, gw, { fieldManager: 'istioctl' });
  } catch (err) {
    throw crdMissing(err) ?? err;
  }
  io.out(`waypoint ${ns}/${f.name} applied\n`);
  if (f.wait) {
    const deadline = Date.now() + f.timeoutMs;
    for (;;) {
      const cur = await client.getOrUndefined<Gateway>(R.gateway, ns, f.name);
      if (cur && programmedOf(cur)?.status === 'True') break;
      if (Date.now() + (f.pollMs ?? 1000) > deadline) throw new CliError(`timed out while waiting for waypoint\t${ns}/${f.name}`);
      await sleep(f.pollMs ?? 1000);
    }
    io.out(`waypoint ${ns}/${f.name} is ready!\n`);
  }
  if (f.enrollNamespace) {
    await client.mergePatch(R.namespace, undefined, ns, { metadata: { labels: { [L.useWaypoint]: f.name } } });
    io.out(`namespace ${ns} labeled with "${L.useWaypoint}: ${f.name}"\n`);
  }
}

export interface DeleteFlags {
  namespace: string;
  names: string[];
  all: boolean;
  revision?: string;
}

export function validateDelete(f: DeleteFlags): void {
  if (f.names.length === 0 && !f.all && !f.revision) throw new CliError('must specify a waypoint name or delete all using --all or delete specific revision using --revision');
  if (f.names.length > 0 && (f.all || f.revision)) throw new CliError('cannot specify waypoint names when deleting all waypoints');
}

async function listWaypoints(client: KubeClient, namespace: string | undefined, labelSelector?: string): Promise<Gateway[]> {
  try {
    const list = await client.listAll<Gateway>(R.gateway, namespace, { labelSelector });
    return list.items.filter(isWaypoint);
  } catch (err) {
    const e = crdMissing(err);
    if (e) throw new CliError(e.message.replace('before applying a waypoint', 'before using waypoints'));
    throw err;
  }
}

export async function deleteWaypoints(client: KubeClient, f: DeleteFlags, io: Out): Promise<void> {
  validateDelete(f);
  let names = f.names;
  if (f.all || f.revision) {
    const gws = await listWaypoints(client, f.namespace, f.revision ? `${L.rev}=${f.revision}` : undefined);
    names = gws.map((g) => g.metadata.name!);
  }
  for (const name of names) {
    const gw = await client.getOrUndefined<Gateway>(R.gateway, f.namespace, name).catch((err) => {
      throw crdMissing(err) ?? err;
    });
    if (!gw || !isWaypoint(gw)) {
      io.out(`waypoint ${f.namespace}/${name} not found\n`);
      continue;
    }
    const deleted = await client.delete(R.gateway, f.namespace, name, { propagationPolicy: 'Background' });
    io.out(deleted ? `waypoint ${f.namespace}/${name} deleted\n` : `waypoint ${f.namespace}/${name} not found\n`);
  }
}

export async function listCommand(client: KubeClient, namespace: string, allNamespaces: boolean, io: Out): Promise<void> {
  const gws = await listWaypoints(client, allNamespaces ? undefined : namespace);
  if (gws.length === 0) {
    io.out('No waypoints found.\n');
    return;
  }
  gws.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  const rows: string[][] = [allNamespaces ? ['NAMESPACE', 'NAME', 'REVISION', 'TRAFFIC TYPE', 'PROGRAMMED'] : ['NAME', 'REVISION', 'TRAFFIC TYPE', 'PROGRAMMED']];
  for (const g of gws) {
    const row = [g.metadata.name!, g.metadata.labels?.[L.rev] || 'default', g.metadata.labels?.[L.waypointFor] || 'none', programmedOf(g)?.status ?? 'False'];
    rows.push(allNamespaces ? [g.metadata.namespace!, ...row] : row);
  }
  io.out(tabwrite(rows));
}

export interface StatusFlags {
  namespace: string;
  allNamespaces: boolean;
  /** Only this waypoint, when given explicitly. */
  name?: string;
  wait: boolean;
  timeoutMs: number;
  pollMs?: number;
}

export async function statusCommand(client: KubeClient, f: StatusFlags, io: Out): Promise<void> {
  let gws: Gateway[];
  if (f.name) {
    const g = await client.getOrUndefined<Gateway>(R.gateway, f.namespace, f.name).catch((err) => {
      throw crdMissing(err) ?? err;
    });
    gws = g && isWaypoint(g) ? [g] : [];
  } else {
    gws = await listWaypoints(client, f.allNamespaces ? undefined : f.namespace);
  }
  if (gws.length === 0) {
    io.out('No waypoints found.\n');
    return;
  }
  gws.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  const header = f.allNamespaces ? ['NAMESPACE', 'NAME', 'STATUS', 'TYPE', 'REASON', 'MESSAGE'] : ['NAME', 'STATUS', 'TYPE', 'REASON', 'MESSAGE'];
  const rows: string[][] = [header];
  const deadline = Date.now() + f.timeoutMs;
  for (let g of gws) {
    const ns = g.metadata.namespace!;
    const name = g.metadata.name!;
    while (f.wait && programmedOf(g)?.status !== 'True') {
      if (Date.now() + (f.pollMs ?? 1000) > deadline) {
        if (rows.length > 1) io.out(tabwrite(rows));
        throw new CliError(`failed to print waypoint status: timed out while retrieving status for waypoint\t${ns}/${name}`);
      }
      await sleep(f.pollMs ?? 1000);
      g = (await client.getOrUndefined<Gateway>(R.gateway, ns, name)) ?? g;
    }
    const c = programmedOf(g);
    const row = [name, c?.status ?? 'Unknown', 'Programmed', c?.reason ?? '', c?.message ?? ''];
    rows.push(f.allNamespaces ? [ns, ...row] : row);
  }
  io.out(tabwrite(rows));
}
