// The mesh administrator's plugin policy: which npm packages a WaypointPlugin may load and where their bytes
// (package tarballs, their locked dependencies, proxy-wasm modules) may come from. It lives in the ConfigMap
// `ambit-plugin-policy` in the root namespace (istio-system), which the controller pushes to every waypoint:
//   data.packages  one name per line: `@acme/rate-limit`, a scope `@acme/*`, or `*` for any package
//   data.sources   one URL prefix per line: a registry (`https://registry.npmjs.org/`), a tarball host, or
//                  `file:///var/lib/plugins/` for tarballs and wasm modules on the waypoint's file system
// No policy, or an empty list, allows nothing: plugin code runs only once an administrator has said so.
// Namespace confinement (which namespaces' plugins a waypoint takes) is the waypoint owner's decision, also here.

import { pathToFileURL } from 'node:url';
import type { K8sObject } from '@ambit/plugin-sdk';

export const PLUGIN_POLICY_CONFIGMAP = 'ambit-plugin-policy';
/** The Gateway annotation by which a waypoint's owner accepts plugins from other namespaces (`a,b` or `*`). */
export const PLUGIN_NAMESPACES_ANNOTATION = 'plugins.ambit.dev/allowed-namespaces';

export interface PluginPolicy {
  /** Package names, `@scope/*`, or `*`. */
  packages: string[];
  /** URL prefixes package tarballs, locked dependencies and wasm modules may be fetched from. */
  sources: string[];
}

/** Reasons a WaypointPlugin is refused before any of its code is fetched. */
export type RefusalReason = 'NotAllowed' | 'IntegrityRequired' | 'UnpinnedDependencies';

const lines = (s: unknown): string[] =>
  typeof s === 'string'
    ? s
        .split('\n')
        .map((l) => l.replace(/#.*$/, '').trim())
        .filter(Boolean)
    : [];

/** The policy held by a ConfigMap (`data.packages`, `data.sources`); unknown keys are ignored. */
export function policyFromConfigMap(cm: K8sObject | undefined): PluginPolicy | undefined {
  if (!cm) return undefined;
  const data = ((cm as unknown as { data?: Record<string, unknown> }).data ?? {}) as Record<string, unknown>;
  return { packages: lines(data.packages), sources: lines(data.sources) };
}

/** The ConfigMap `ambit-plugin-policy` of `rootNamespace` among a waypoint's resources, as a policy. */
export function findPluginPolicy(configMaps: K8sObject[], rootNamespace: string): PluginPolicy | undefined {
  return policyFromConfigMap(configMaps.find((c) => c.metadata.name === PLUGIN_POLICY_CONFIGMAP && c.metadata.namespace === rootNamespace));
}

export function packageAllowed(policy: PluginPolicy | undefined, name: string): boolean {
  return (policy?.packages ?? []).some((p) => p === '*' || p === name || (p.endsWith('/*') && name.startsWith(p.slice(0, -1))));
}

/** The URL a tarball or module is read from: `file:` for a local path. */
export function sourceUrl(src: { url?: string; tarball?: string; path?: string }, registry: string): string {
  if (src.tarball) return pathToFileURL(src.tarball).href;
  if (src.path) return pathToFileURL(src.path).href;
  return src.url ?? registry;
}

export function sourceAllowed(policy: PluginPolicy | undefined, url: string): boolean {
  let normal: string;
  try {
    normal = new URL(url).href;
  } catch {
    return false;
  }
  // `..` (also percent-encoded) is resolved by URL parsing, so a prefix cannot be escaped with it. A prefix is a
  // whole path segment: `https://registry.npmjs.org` does not admit `https://registry.npmjs.org.evil.example/`.
  return (policy?.sources ?? []).some((raw) => {
    let p: string;
    try {
      p = new URL(raw).href;
    } catch {
      return false;
    }
    return normal === p || normal.startsWith(p.endsWith('/') ? p : `${p}/`);
  });
}

/** Namespaces whose plugins a waypoint accepts: its own, the root namespace, and what its owner lists. */
export function namespaceAllowed(pluginNamespace: string, waypoint: { namespace: string; rootNamespace: string }, extra: readonly string[]): boolean {
  return pluginNamespace === waypoint.namespace || pluginNamespace === waypoint.rootNamespace || extra.includes('*') || extra.includes(pluginNamespace);
}

/** `a, b` -> ['a', 'b'] (the annotation and the env variable carry the same list). */
export function parseNamespaceList(s: string | undefined): string[] {
  return (s ?? '')
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

const NONE = 'no plugin allow-list: a mesh administrator lists allowed packages and sources in ConfigMap';

/** Why `ref` may not load, or undefined when it may (checked before anything is fetched). */
export function refusePackage(
  policy: PluginPolicy | undefined,
  ref: { name: string; integrity?: string; url?: string; tarball?: string },
  rootNamespace: string,
  registry: string,
): { reason: RefusalReason; message: string } | undefined {
  if (!ref.integrity) return { reason: 'IntegrityRequired', message: `package ${ref.name} has no integrity: set spec.package.integrity to the tarball's SRI (the "integrity" npm pack --json prints)` };
  if (!policy) return { reason: 'NotAllowed', message: `${NONE} ${rootNamespace}/${PLUGIN_POLICY_CONFIGMAP}` };
  if (!packageAllowed(policy, ref.name)) return { reason: 'NotAllowed', message: `package ${ref.name} is not in the allow-list (data.packages of ConfigMap ${rootNamespace}/${PLUGIN_POLICY_CONFIGMAP})` };
  const url = sourceUrl(ref, registry);
  if (!sourceAllowed(policy, url)) return { reason: 'NotAllowed', message: `source ${url} is not in the allow-list (data.sources of ConfigMap ${rootNamespace}/${PLUGIN_POLICY_CONFIGMAP})` };
  return undefined;
}

/** The same rule for a proxy-wasm module: a sha256 is required and the source must be allowed. */
export function refuseWasm(
  policy: PluginPolicy | undefined,
  src: { url?: string; path?: string; sha256?: string },
  rootNamespace: string,
): { reason: RefusalReason; message: string } | undefined {
  if (!src.sha256) return { reason: 'IntegrityRequired', message: 'wasm module has no sha256: set spec.wasm.sha256 to the hex SHA-256 of the module' };
  if (!policy) return { reason: 'NotAllowed', message: `${NONE} ${rootNamespace}/${PLUGIN_POLICY_CONFIGMAP}` };
  const url = sourceUrl(src, '');
  if (!sourceAllowed(policy, url)) return { reason: 'NotAllowed', message: `source ${url} is not in the allow-list (data.sources of ConfigMap ${rootNamespace}/${PLUGIN_POLICY_CONFIGMAP})` };
  return undefined;
}
