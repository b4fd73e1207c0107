// `ambit install` / `ambit uninstall`: applies the data-driven manifests (controller/manifests/*.yaml, grouped in
// istioctl's components, each printed as it is done), the ingress gateway when asked for, and the project's CRDs
// (crds/ambit/*.yaml) by server-side apply, after checking that the Gateway API CRDs
// are present and that the caller may create what the manifests hold, so nothing is left half-applied.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { KubeClient, KubeError } from '../kube/client.js';
import { R, resourceFor, type KubeObject, type ResourceType } from '../kube/resources.js';
import { MESH_CONTROLLER, WAYPOINT_CLASSES } from '../gateway/constants.js';
import { VERSION } from './version.js';
import { removeLegacyGatewayVersion, serveLegacyGatewayVersion } from './legacy-gateway-version.js';
import { waitForRedirectionRelease } from './redirection-release.js';
import { customizeManifests } from './customize.js';
import { renderIngressGateway } from './ingress-gateway.js';
import { ADDONS, ADDON_DIR, renderAddons } from './addons.js';
import { INGRESS_GATEWAY_NAME } from '../gateway/names.js';
import type { InstallValues } from './values.js';

const here = dirname(fileURLToPath(import.meta.url));
/** controller/manifests (from controller/dist/src/install). */
export const MANIFEST_DIR = join(here, '..', '..', '..', 'manifests');
/** crds/ambit at the repository root. */
export const PROJECT_CRD_DIR = join(here, '..', '..', '..', '..', 'crds', 'ambit');
export const FIELD_MANAGER = 'ambit-install';
export const SYSTEM_NAMESPACE = 'istio-system';

/** Where install reads its manifests: the controller's, the project's CRDs, the add-ons (default samples/addons). */
export interface InstallDirs {
  manifests: string;
  crds: string;
  addons?: string;
}

export class InstallError extends Error {}

export function readManifestDir(dir: string): KubeObject[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .flatMap((f) => readManifestFile(join(dir, f)));
}

function readManifestFile(path: string): KubeObject[] {
  const objs: KubeObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
    if (doc.errors.length) throw new InstallError(`${path}: ${doc.errors[0].message}`);
    const o = doc.toJSON() as KubeObject | null;
    if (o && o.kind) objs.push(o);
  }
  return objs;
}

/** istioctl's components, in the order its install prints them (seed 003); Addons last, as istioctl 1.5 printed
 * its add-ons (`--addons`: samples/addons). */
export const COMPONENTS = ['Istio core', 'Istiod', 'CNI', 'Ingress gateways', 'Ztunnel', 'Addons'] as const;
export type ComponentName = (typeof COMPONENTS)[number];
/** Which component each manifest file belongs to; a file not listed is part of the core. */
const COMPONENT_OF_FILE: Record<string, ComponentName> = {
  '00-namespace.yaml': 'Istio core',
  '10-controller-rbac.yaml': 'Istiod',
  '20-controller.yaml': 'Istiod',
  'istio-cni.yaml': 'CNI',
  'ztunnel.yaml': 'Ztunnel',
};

export interface Component {
  name: ComponentName;
  objects: KubeObject[];
}

/**
 * The components `ambit install` applies, in order, with the install values (image hub/tag, CNI directories)
 * applied: the manifests by file, and the ingress gateway when `values.ingressGateway.enabled`. Components with no
 * objects are left out.
 */
export function installComponents(dirs: InstallDirs = { manifests: MANIFEST_DIR, crds: PROJECT_CRD_DIR }, values: InstallValues = {}): { crds: KubeObject[]; components: Component[] } {
  const byName = new Map<ComponentName, KubeObject[]>(COMPONENTS.map((c) => [c, []]));
  if (existsSync(dirs.manifests)) {
    for (const f of readdirSync(dirs.manifests).filter((f) => /\.ya?ml$/.test(f)).sort()) byName.get(COMPONENT_OF_FILE[f] ?? 'Istio core')!.push(...readManifestFile(join(dirs.manifests, f)));
  }
  if (values.ingressGateway?.enabled) byName.get('Ingress gateways')!.push(...renderIngressGateway(SYSTEM_NAMESPACE, VERSION));
  if (values.addons?.length) byName.get('Addons')!.push(...renderAddons(values.addons, dirs.addons ?? ADDON_DIR));
  const components = COMPONENTS.map((name) => ({ name, objects: customizeManifests(byName.get(name)!, values) })).filter((c) => c.objects.length > 0);
  return { crds: readManifestDir(dirs.crds), components };
}

/** The CRDs and the objects to apply, in apply order, with the install values applied. */
export function manifests(dirs: InstallDirs = { manifests: MANIFEST_DIR, crds: PROJECT_CRD_DIR }, values: InstallValues = {}): { crds: KubeObject[]; objects: KubeObject[] } {
  const { crds, components } = installComponents(dirs, values);
  return { crds, objects: components.flatMap((c) => c.objects) };
}

/** Everything an install may have applied, whatever its values (what uninstall removes): the add-ons too, whose
 * cluster-scoped RBAC would outlive the system namespace. */
function everything(dirs?: InstallDirs): { crds: KubeObject[]; objects: KubeObject[] } {
  return manifests(dirs, { ingressGateway: { enabled: true, name: INGRESS_GATEWAY_NAME }, addons: [...ADDONS] });
}

function typeOf(o: KubeObject): ResourceType {
  const rt = resourceFor(o.apiVersion ?? '', o.kind ?? '');
  if (!rt) throw new InstallError(`manifest kind ${o.apiVersion}/${o.kind} (${o.metadata.name}) is not supported by ambit install`);
  return rt;
}

const label = (o: KubeObject) => `${(o.kind ?? '').toLowerCase()}/${o.metadata.name}${o.metadata.namespace ? ` -n ${o.metadata.namespace}` : ''}`;

async function requireGatewayCRDs(client: KubeClient): Promise<void> {
  const missing: string[] = [];
  for (const n of ['gateways.gateway.networking.k8s.io', 'gatewayclasses.gateway.networking.k8s.io']) {
    if (!(await client.getOrUndefined(R.crd, undefined, n))) missing.push(n);
  }
  if (missing.length) {
    throw new InstallError(
      `missing Kubernetes Gateway API CRDs (${missing.join(', ')}): install them first, e.g. kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.3.0/standard-install.yaml`,
    );
  }
}

/** Asks the API server (SelfSubjectAccessReview) whether the caller may create/patch each object; lists what not. */
async function checkRights(client: KubeClient, objs: KubeObject[], verbs: string[]): Promise<string[]> {
  const asks = new Map<string, { verb: string; rt: ResourceType; namespace?: string }>();
  for (const o of objs) {
    const rt = typeOf(o);
    for (const verb of verbs) asks.set(`${verb}/${rt.group}/${rt.plural}/${o.metadata.namespace ?? ''}`, { verb, rt, namespace: o.metadata.namespace });
  }
  const answers = await Promise.all(
    [...asks.values()].map(async ({ verb, rt, namespace }) => {
      const review = await client.create<KubeObject & { status?: { allowed?: boolean } }>(R.selfSubjectAccessReview, {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        metadata: {},
        spec: { resourceAttributes: { verb, group: rt.group, resource: rt.plural, namespace } },
      });
      return review.status?.allowed ? undefined : `${verb} ${rt.plural}${rt.group ? `.${rt.group}` : ''}${namespace ? ` in ${namespace}` : ''}`;
    }),
  );
  return answers.filter((a): a is string => !!a);
}

export interface InstallOptions {
  dirs?: InstallDirs;
  /** Image hub/tag and CNI directories (parseInstallValues checks them). */
  values?: InstallValues;
  wait?: boolean;
  timeoutMs?: number;
  log?: (line: string) => void;
}

export async function install(client: KubeClient, opts: InstallOptions = {}): Promise<void> {
  const log = opts.log ?? (() => {});
  const { crds, components } = installComponents(opts.dirs, opts.values);
  const objects = components.flatMap((c) => c.objects);
  await client.request({ path: '/version', timeoutMs: 10_000 });
  await requireGatewayCRDs(client);
  const denied = await checkRights(client, [...crds, ...objects], ['create', 'patch']);
  if (denied.length) throw new InstallError(`insufficient rights to install (nothing was changed): cannot ${denied.join(', ')}`);
  // Right after an uninstall the system namespace may still be terminating: applying into it would fail half-way.
  const ns = objects.find((o) => o.kind === 'Namespace');
  if (ns) await waitNamespaceGoneIfTerminating(client, ns.metadata.name!, opts.timeoutMs ?? 300_000, log);
  for (const o of crds) {
    await client.apply(R.crd, o, { fieldManager: FIELD_MANAGER, force: true });
    log(`${label(o)} applied`);
  }
  if (await serveLegacyGatewayVersion(client)) log('customresourcedefinition/gateways.gateway.networking.k8s.io now also serves v1alpha2 (the 2022 waypoint dialect)');
  for (const o of objects) {
    await client.apply(typeOf(o), o, { fieldManager: FIELD_MANAGER, force: true });
    log(`${label(o)} applied`);
  }
  // istioctl's summary: one line per component (once its workloads are ready, when waiting), in its order.
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
  for (const c of components) {
    if (opts.wait) await waitReady(client, c.objects, deadline, log);
    log(`\u2714 ${c.name} installed`);
  }
  log('\u2714 Installation complete');
  log(`Ambit ${VERSION} installed`);
}

async function waitNamespaceGoneIfTerminating(client: KubeClient, name: string, timeoutMs: number, log: (l: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    const cur = await client.getOrUndefined<KubeObject & { status?: { phase?: string } }>(R.namespace, undefined, name);
    if (!cur || (!cur.metadata.deletionTimestamp && cur.status?.phase !== 'Terminating')) return;
    if (Date.now() > deadline) {
      throw new InstallError(`namespace ${name} is still being deleted (nothing was changed): wait until "kubectl get namespace ${name}" says NotFound, then run ambit install again`);
    }
    if (!told) log(`namespace/${name} is still being deleted (an earlier uninstall); waiting for it to go`);
    told = true;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function waitReady(client: KubeClient, objs: KubeObject[], deadline: number, log: (l: string) => void): Promise<void> {
  for (const o of objs.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')) {
    const rt = typeOf(o);
    for (;;) {
      const cur = await client.getOrUndefined<KubeObject & { status?: Record<string, number> }>(rt, o.metadata.namespace, o.metadata.name!);
      const st = cur?.status ?? {};
      const ready =
        o.kind === 'Deployment'
          ? (st.availableReplicas ?? 0) >= ((cur?.spec as { replicas?: number } | undefined)?.replicas ?? 1) && (st.observedGeneration ?? 0) >= (cur?.metadata.generation ?? 0)
          : (st.desiredNumberScheduled ?? 0) > 0 && st.numberReady === st.desiredNumberScheduled;
      if (ready) break;
      if (Date.now() > deadline) throw new InstallError(`timed out waiting for ${label(o)} to become ready`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    log(`${label(o)} ready`);
  }
}

export interface UninstallOptions {
  dirs?: InstallDirs;
  purge?: boolean;
  log?: (line: string) => void;
  /** Wait for the system namespace to be gone. */
  wait?: boolean;
  timeoutMs?: number;
}

export async function uninstall(client: KubeClient, opts: UninstallOptions = {}): Promise<void> {
  const log = opts.log ?? (() => {});
  const { crds, objects } = everything(opts.dirs);
  await client.request({ path: '/version', timeoutMs: 10_000 });
  // The built-in GatewayClasses the controller created (only those still naming our controller).
  for (const name of WAYPOINT_CLASSES) {
    try {
      const cls = await client.getOrUndefined<KubeObject & { spec?: { controllerName?: string } }>(R.gatewayClass, undefined, name);
      if (cls?.spec?.controllerName === MESH_CONTROLLER && (await client.delete(R.gatewayClass, undefined, name))) log(`gatewayclass/${name} deleted`);
    } catch (err) {
      if (!(err instanceof KubeError && err.notFound)) throw err;
    }
  }
  // The root certificate ConfigMaps the CA published in every namespace.
  try {
    const cms = await client.listAll(R.configMap, undefined, { fieldSelector: 'metadata.name=istio-ca-root-cert' });
    for (const cm of cms.items) await client.delete(R.configMap, cm.metadata.namespace, cm.metadata.name!);
    if (cms.items.length) log(`configmap/istio-ca-root-cert deleted from ${cms.items.length} namespace(s)`);
  } catch (err) {
    if (!(err instanceof KubeError && (err.forbidden || err.notFound))) throw err;
  }
  if (objects.some((o) => o.kind === 'DaemonSet')) {
    try {
      await waitForRedirectionRelease(client, log);
    } catch (err) {
      if (!(err instanceof KubeError && err.forbidden)) throw err;
    }
  }
  for (const o of [...objects].reverse()) {
    const rt = typeOf(o);
    if (await client.delete(rt, o.metadata.namespace, o.metadata.name!)) log(`${label(o)} deleted`);
  }
  if (opts.purge) {
    for (const o of crds) if (await client.delete(R.crd, undefined, o.metadata.name!)) log(`${label(o)} deleted`);
    if (await removeLegacyGatewayVersion(client)) log('customresourcedefinition/gateways.gateway.networking.k8s.io no longer serves v1alpha2');
  }
  if (opts.wait) {
    const ns = objects.find((o) => o.kind === 'Namespace');
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    while (ns && (await client.getOrUndefined(R.namespace, undefined, ns.metadata.name!))) {
      if (Date.now() > deadline) throw new InstallError(`timed out waiting for namespace ${ns.metadata.name} to be deleted`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  log(`Ambit ${VERSION} uninstalled${opts.purge ? ' (CRDs purged)' : ''}`);
}

