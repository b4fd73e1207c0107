// What `ambit install` lets a user change about the manifests, parsed from istioctl's spellings (`--set hub=…`,
// `--set tag=…`, `--set values.cni.cniBinDir=…`, `--set values.cni.cniConfDir=…`,
// `--set components.ingressGateways[0].enabled=true` / `.name=istio-ingressgateway`) and the `--hub` / `--tag`
// shorthands, and checked up front: a bad value is one line naming the flag and the fix, before the cluster is
// contacted.
import { isAbsolute, normalize } from 'node:path';
import { INGRESS_GATEWAY_NAME } from '../gateway/names.js';
import { ADDONS, isAddon, type AddonName } from './addons.js';

export interface InstallValues {
  /** Registry prefix the `ambit/*` images move to: `<hub>/controller:<tag>`. */
  hub?: string;
  /** Tag every `ambit/*` image gets. */
  tag?: string;
  /** Node directory holding the CNI plugin binaries (hostPath of the `cni-bin-dir` volumes). */
  cniBinDir?: string;
  /** Node directory holding the CNI network configuration (hostPath of the `cni-net-dir` volumes). */
  cniConfDir?: string;
  /** The Istio API's ingress gateway (`components.ingressGateways[0]`): installed when enabled. */
  ingressGateway?: { enabled: boolean; name: string };
  /** The add-ons (samples/addons/<name>.yaml) to apply with the mesh: `--addons prometheus`. */
  addons?: AddonName[];
}


export class InstallValuesError extends Error {}

/** `--set` keys and the value each sets; istioctl accepts both `hub` and `values.global.hub` (same for tag). */
const SET_KEYS: Record<string, StringValue> = {
  hub: 'hub',
  'values.global.hub': 'hub',
  tag: 'tag',
  'values.global.tag': 'tag',
  'values.cni.cniBinDir': 'cniBinDir',
  'values.cni.cniConfDir': 'cniConfDir',
};

/** istioctl's keys of the first ingress gateway (the only one: Ambit installs `istio-ingressgateway`). */
const INGRESS_KEYS = ['components.ingressGateways[0].enabled', 'components.ingressGateways[0].name'] as const;

export const SET_KEY_NAMES = [...Object.keys(SET_KEYS), ...INGRESS_KEYS];

function checkEnabled(v: string, flag: string): boolean {
  if (v === 'true' || v === 'false') return v === 'true';
  throw new InstallValuesError(`${flag}: "${v}" is not a boolean: use true or false`);
}

function checkIngressName(v: string, flag: string): string {
  if (v !== INGRESS_GATEWAY_NAME) throw new InstallValuesError(`${flag}: "${v}" is not supported: ambit install installs one ingress gateway, named ${INGRESS_GATEWAY_NAME}`);
  return v;
}

// Docker reference grammar (distribution/reference): an optional registry host[:port], then lower-case path
// components separated by `/`.
const HOST = String.raw`(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?`;
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HUB_RE = new RegExp(`^(?:${HOST}/)?${COMPONENT}(?:/${COMPONENT})*$|^${HOST}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;

function checkHub(v: string, flag: string): string {
  const hub = v.replace(/\/+$/, '');
  const first = hub.split('/')[0]!;
  const upperPath = /[A-Z]/.test(first) && !/[.:]/.test(first);
  if (!hub || !HUB_RE.test(hub) || upperPath) {
    throw new InstallValuesError(`${flag}: "${v}" is not an image registry prefix: use something like registry.example.com:5000/ambit (no spaces, no tag, lower-case path)`);
  }
  return hub;
}

function checkTag(v: string, flag: string): string {
  if (!TAG_RE.test(v)) throw new InstallValuesError(`${flag}: "${v}" is not an image tag: use letters, digits, '_', '.' or '-' (at most 128, not starting with '.' or '-'), e.g. 0.1.0`);
  return v;
}

function checkDir(v: string, flag: string): string {
  if (!isAbsolute(v) || /[\s\0]/.test(v)) throw new InstallValuesError(`${flag}: "${v}" must be an absolute directory on the nodes, e.g. /var/lib/rancher/k3s/data/current/bin`);
  const p = normalize(v).replace(/(.)\/+$/, '$1');
  if (p === '/') throw new InstallValuesError(`${flag}: "${v}" is the node's root directory: give the directory that holds the CNI files`);
  return p;
}

type StringValue = Exclude<keyof InstallValues, 'ingressGateway' | 'addons'>;

const CHECK: Record<StringValue, (v: string, flag: string) => string> = { hub: checkHub, tag: checkTag, cniBinDir: checkDir, cniConfDir: checkDir };

export interface ValueFlags {
  hub?: string;
  tag?: string;
  /** Each `--set key=value`, as given. */
  set?: string[];
  /** Each `--addons` value, as given (a value may list several, comma-separated). */
  addons?: string[];
}

/** The add-on names of `--addons a,b --addons c`, checked, each once, in the order known add-ons are installed. */
function checkAddons(given: string[]): AddonName[] {
  const names = given.flatMap((g) => g.split(',')).map((n) => n.trim()).filter(Boolean);
  const unknown = names.filter((n) => !isAddon(n));
  if (unknown.length) {
    throw new InstallValuesError(`--addons ${unknown.join(',')}: unknown add-on${unknown.length > 1 ? 's' : ''} "${unknown.join('", "')}"; the known add-ons are: ${ADDONS.join(', ')}`);
  }
  if (given.length && !names.length) throw new InstallValuesError(`--addons: no add-on named; the known add-ons are: ${ADDONS.join(', ')}`);
  return ADDONS.filter((a) => names.includes(a));
}

/** Parses and checks the flags; throws InstallValuesError with one line naming the flag and the fix. */
export function parseInstallValues(flags: ValueFlags): InstallValues {
  const values: InstallValues = {};
  const from: Partial<Record<string, string>> = {};
  const ingress: { enabled?: boolean; name?: string } = {};
  const putIngress = <K extends 'enabled' | 'name'>(field: K, v: (typeof ingress)[K], flag: string) => {
    if (ingress[field] !== undefined && ingress[field] !== v) throw new InstallValuesError(`${flag} contradicts ${from[field]}: give the value once`);
    ingress[field] = v;
    from[field] = flag;
  };
  const put = (key: StringValue, raw: string, flag: string) => {
    const v = CHECK[key](raw, flag);
    if (values[key] !== undefined && values[key] !== v) throw new InstallValuesError(`${flag} contradicts ${from[key]}: give the value once`);
    values[key] = v;
    from[key] = flag;
  };
  if (flags.hub !== undefined) put('hub', flags.hub, `--hub ${flags.hub}`);
  if (flags.tag !== undefined) put('tag', flags.tag, `--tag ${flags.tag}`);
  for (const s of flags.set ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new InstallValuesError(`--set ${s}: expected key=value, e.g. --set hub=registry.example.com/ambit`);
    const k = s.slice(0, eq).trim();
    const raw = s.slice(eq + 1).trim();
    if (k === INGRESS_KEYS[0]) {
      putIngress('enabled', checkEnabled(raw, `--set ${s}`), `--set ${s}`);
      continue;
    }
    if (k === INGRESS_KEYS[1]) {
      putIngress('name', checkIngressName(raw, `--set ${s}`), `--set ${s}`);
      continue;
    }
    if (/^components\.ingressGateways\[\d+\]\./.test(k)) {
      throw new InstallValuesError(`--set ${s}: ambit install installs one ingress gateway: use ${INGRESS_KEYS.join(' and ')}`);
    }
    const key = SET_KEYS[k];
    if (!key) throw new InstallValuesError(`--set ${s}: unknown key "${k}"; ambit install accepts ${SET_KEY_NAMES.join(', ')}`);
    put(key, raw, `--set ${s}`);
  }
  // istioctl's default name for ingressGateways[0]; a name alone does not enable it (the ambient profile has none).
  if (ingress.enabled !== undefined || ingress.name !== undefined) values.ingressGateway = { enabled: ingress.enabled ?? false, name: ingress.name ?? INGRESS_GATEWAY_NAME };
  if (flags.addons?.length) values.addons = checkAddons(flags.addons);
  return values;
}
