// The plugin's kubeconfig (Istio's install-cni writes one too): the API server from KUBERNETES_SERVICE_HOST/PORT,
// the agent's service-account token and CA, mode 0600 (it carries a token). Written as JSON, which kubectl reads as
// YAML and the plugin reads without a YAML parser. Rewritten when the projected token rotates.
import fs from 'node:fs';
import path from 'node:path';
import { readIfExists, writeFileAtomic } from './fsutil.js';

export const KUBECONFIG_NAME = 'ZZZ-ambit-cni-kubeconfig';
export const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeconfigSource {
  server: string;
  token: string;
  caData?: string;
}

/** `https://host:port` from the in-cluster env (IPv6 hosts bracketed); throws a one-line error when unset. */
export function apiServerFromEnv(env: NodeJS.ProcessEnv): string {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  if (!host) throw new Error('KUBERNETES_SERVICE_HOST is not set: the agent must run in a pod (or set it to the API server address)');
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Reads the service account's token and CA (the files the kubelet projects into the pod). */
export function serviceAccountSource(env: NodeJS.ProcessEnv, saDir = SA_DIR): KubeconfigSource {
  const token = fs.readFileSync(path.join(saDir, 'token'), 'utf8').trim();
  const ca = readIfExists(path.join(saDir, 'ca.crt'));
  return { server: apiServerFromEnv(env), token, ...(ca ? { caData: Buffer.from(ca).toString('base64') } : {}) };
}

export function renderKubeconfig(src: KubeconfigSource): string {
  const cluster: Record<string, unknown> = { server: src.server };
  if (src.caData) cluster['certificate-authority-data'] = src.caData;
  return (
    JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'local', cluster }],
        users: [{ name: 'ambit-cni', user: { token: src.token } }],
        contexts: [{ name: 'ambit-cni-context', context: { cluster: 'local', user: 'ambit-cni' } }],
        'current-context': 'ambit-cni-context',
      },
      null,
      2,
    ) + '\n'
  );
}

/** Writes the kubeconfig (0600) when its content differs; true when written. */
export function writeKubeconfig(file: string, src: KubeconfigSource): boolean {
  const content = renderKubeconfig(src);
  let same = false;
  try {
    same = readIfExists(file) === content && (fs.statSync(file).mode & 0o777) === 0o600;
  } catch {
    same = false;
  }
  if (same) return false;
  writeFileAtomic(file, content, 0o600);
  return true;
}
