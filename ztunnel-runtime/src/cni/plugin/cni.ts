// The CNI spec (1.0/1.1) as seen by a chained plugin: environment, CNI_ARGS, the stdin config with prevResult, and
// the error object. Pure functions; imports nothing.

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
/** CNI error code for plugin-specific errors (>= 100); Istio's plugin uses 999 too. */
export const ERROR_CODE = 999;

export interface CniEnv {
  command: string;
  containerId: string;
  netns: string;
  ifname: string;
  args: Record<string, string>;
}

/** `IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;...` -> key/value map (malformed pairs are skipped). */
export function parseCniArgs(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (s ?? '').split(';')) {
    const i = pair.indexOf('=');
    if (i <= 0) continue;
    out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}

export function readCniEnv(env: NodeJS.ProcessEnv): CniEnv {
  return {
    command: (env.CNI_COMMAND ?? '').toUpperCase(),
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifname: env.CNI_IFNAME ?? '',
    args: parseCniArgs(env.CNI_ARGS),
  };
}

export class CniError extends Error {
  constructor(
    msg: string,
    readonly details = '',
  ) {
    super(msg);
  }
}

export function errorJson(cniVersion: string, msg: string, details = ''): string {
  return JSON.stringify({ cniVersion, code: ERROR_CODE, msg, details }) + '\n';
}

export function versionJson(cniVersion: string): string {
  return JSON.stringify({ cniVersion, supportedVersions: SUPPORTED_VERSIONS }) + '\n';
}

/** IPv4/IPv6 addresses (without prefix length) of a CNI result's `ips`. */
export function ipsOf(prevResult: unknown): string[] {
  const ips = (prevResult as { ips?: unknown } | undefined)?.ips;
  if (!Array.isArray(ips)) return [];
  return ips
    .map((e) => (e as { address?: unknown }).address)
    .filter((a): a is string => typeof a === 'string')
    .map((a) => a.split('/')[0]!)
    .filter(Boolean);
}
