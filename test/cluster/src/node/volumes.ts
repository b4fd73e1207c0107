// Pod volumes rendered on the host (stateDir/pods/<uid>/volumes/<name>) and the bind mounts each container gets:
// emptyDir, configMap, secret (files 0600 unless defaultMode says otherwise), downwardAPI, projected (with
// serviceAccountToken through the TokenRequest API), hostPath, and the service-account volume the ServiceAccount
// admission plugin would add. Files are replaced by rename, so updates show through the directory bind mounts.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, relative } from 'node:path';
import type { V1Container, V1KeyToPath, V1Pod, V1Volume, V1VolumeProjection } from '@kubernetes/client-node';
import { expandVars, type ServiceInfo } from './env.js';
import { errorMessage } from './kube.js';
import { podFieldValue, resourceFieldValue, type PodRuntimeInfo } from './fieldpath.js';

export const serviceAccountMountPath = '/var/run/secrets/kubernetes.io/serviceaccount';
const syntheticSaVolume = 'kube-api-access-ambit';

export interface IssuedToken {
  token: string;
  expiresAt: number;
}

/** What volumes need from the cluster (ConfigMap/Secret data by name in the pod's namespace). */
export interface ClusterData {
  configMap(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
  secret(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
  services?(namespace: string): Promise<ServiceInfo[]>;
  token(pod: V1Pod, audiences: string[], expirationSeconds: number): Promise<IssuedToken>;
  /** The cluster CA (PEM), from the kubeconfig. */
  caCert(): string;
}

/** A volume that cannot be set up yet (missing ConfigMap, ...): the pod stays ContainerCreating. */
export class VolumeError extends Error {}

export interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
  /** rbind (hostPath: keep the mounts below it, e.g. /run/netns). */
  recursive: boolean;
  kind: 'dir' | 'file';
}

type Files = Map<string, { data: Buffer; mode: number }>;

/** The pod's volumes, with the service-account volume added when the pod mounts none (automount not disabled). */
export function effectiveVolumes(pod: V1Pod): { volumes: V1Volume[]; saVolume?: string } {
  const volumes = [...(pod.spec?.volumes ?? [])];
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  const hasSaMount = all.some((c) => (c.volumeMounts ?? []).some((m) => normalize(m.mountPath) === serviceAccountMountPath));
  if (pod.spec?.automountServiceAccountToken === false || hasSaMount) return { volumes };
  volumes.push({
    name: syntheticSaVolume,
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  });
  return { volumes, saVolume: syntheticSaVolume };
}

/** Secrets and tokens are written 0600 unless the pod asked for something other than the API default (0644). */
export function secretMode(mode: number | undefined): number {
  return mode === undefined || mode === 0o644 ? 0o600 : mode;
}

function checkRelative(p: string): string {
  const n = normalize(p);
  if (n.startsWith('..') || n.startsWith('/')) throw new VolumeError(`volume path ${p} escapes the volume`);
  return n;
}

export class PodVolumes {
  private readonly tokens = new Map<string, IssuedToken & { issuedAt: number }>();
  private readonly written = new Map<string, Set<string>>();
  readonly volumes: V1Volume[];
  readonly saVolume?: string;

  constructor(
    private readonly pod: V1Pod,
    readonly baseDir: string,
    private readonly data: ClusterData,
    private readonly info: () => PodRuntimeInfo,
  ) {
    const eff = effectiveVolumes(pod);
    this.volumes = eff.volumes;
    this.saVolume = eff.saVolume;
  }

  dirOf(name: string): string {
    const v = this.volumes.find((x) => x.name === name);
    if (v?.hostPath) return v.hostPath.path;
    if (v?.persistentVolumeClaim) return join(this.baseDir, '..', '..', '..', 'claims', this.pod.metadata!.namespace!, v.persistentVolumeClaim.claimName);
    return join(this.baseDir, name);
  }

  /** Create or refresh every volume's contents. Throws VolumeError for what the kubelet would report as a mount failure. */
  async sync(): Promise<void> {
    for (const v of this.volumes) await this.syncVolume(v);
  }

  private async syncVolume(v: V1Volume): Promise<void> {
    const dir = this.dirOf(v.name);
    const ns = this.pod.metadata!.namespace!;
    if (v.emptyDir) {
      await mkdir(dir, { recursive: true, mode: 0o777 });
    } else if (v.hostPath) {
      const type = v.hostPath.type ?? '';
      if (!existsSync(dir)) {
        if (type === 'DirectoryOrCreate') await mkdir(dir, { recursive: true });
        else if (type === 'FileOrCreate') {
          await mkdir(dirname(dir), { recursive: true });
          await writeFile(dir, '', { flag: 'a' });
        } else if (type !== '') throw new VolumeError(`hostPath type check failed: ${dir} does not exist`);
        else await mkdir(dir, { recursive: true });
      }
    } else if (v.persistentVolumeClaim) {
      await mkdir(dir, { recursive: true });
    } else if (v.configMap || v.secret || v.downwardAPI || v.projected) {
      const files: Files = new Map();
      if (v.configMap) {
        const data = await this.data.configMap(ns, v.configMap.name!);
        if (!data && !v.configMap.optional) throw new VolumeError(`configmap "${v.configMap.name}" not found`);
        this.addKeys(files, data ?? {}, v.configMap.items, v.configMap.defaultMode ?? 0o644, `ConfigMap ${v.configMap.name}`, v.configMap.optional);
      } else if (v.secret) {
        const data = await this.data.secret(ns, v.secret.secretName!);
        if (!data && !v.secret.optional) throw new VolumeError(`secret "${v.secret.secretName}" not found`);
        this.addKeys(files, data ?? {}, v.secret.items, secretMode(v.secret.defaultMode), `Secret ${v.secret.secretName}`, v.secret.optional);
      } else if (v.downwardAPI) {
        this.addDownward(files, v.downwardAPI.items ?? [], v.downwardAPI.defaultMode ?? 0o644);
      } else if (v.projected) {
        for (const src of v.projected.sources ?? []) await this.addProjection(files, src, v.projected.defaultMode ?? 0o644, v.name);
      }
      await this.writeFiles(v.name, dir, files);
    } else {
      const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
      throw new VolumeError(`volume ${v.name}: ${kind} volumes are not supported by Ambit's virtual nodes`);
    }
  }

  private addKeys(files: Files, data: Record<string, Buffer>, items: V1KeyToPath[] | undefined, mode: number, what: string, optional?: boolean): void {
    if (items?.length) {
      for (const it of items) {
        const value = data[it.key];
        if (value === undefined) {
          if (optional) continue;
          throw new VolumeError(`configuration key ${it.key} not found in ${what}`);
        }
        files.set(checkRelative(it.path), { data: value, mode: it.mode ?? mode });
      }
    } else {
      for (const [k, value] of Object.entries(data)) files.set(checkRelative(k), { data: value, mode });
    }
  }

  private addDownward(files: Files, items: Array<{ path: string; fieldRef?: { fieldPath: string }; resourceFieldRef?: { containerName?: string; resource: string; divisor?: unknown }; mode?: number }>, mode: number): void {
    for (const it of items) {
      let value = '';
      if (it.fieldRef) value = podFieldValue(this.pod, it.fieldRef.fieldPath, this.info());
      else if (it.resourceFieldRef) {
        const c = [...(this.pod.spec?.containers ?? []), ...(this.pod.spec?.initContainers ?? [])].find((x) => x.name === it.resourceFieldRef!.containerName);
        value = resourceFieldValue(c, it.resourceFieldRef.resource, it.resourceFieldRef.divisor as string | undefined);
      }
      files.set(checkRelative(it.path), { data: Buffer.from(value), mode: it.mode ?? mode });
    }
  }

  private async addProjection(files: Files, src: V1VolumeProjection, mode: number, volume: string): Promise<void> {
    const ns = this.pod.metadata!.namespace!;
    if (src.serviceAccountToken) {
      const sat = src.serviceAccountToken;
      const audiences = sat.audience ? [sat.audience] : [];
      const key = `${volume}/${sat.path}`;
      let tok = this.tokens.get(key);
      const ttl = sat.expirationSeconds ?? 3607;
      // Refresh at 80% of the lifetime, as the kubelet does.
      if (!tok || Date.now() > tok.issuedAt + 0.8 * (tok.expiresAt - tok.issuedAt)) {
        const issuedAt = Date.now();
        try {
          tok = { ...(await this.data.token(this.pod, audiences, ttl)), issuedAt };
        } catch (err) {
          throw new VolumeError(`failed to fetch token: ${errorMessage(err)}`);
        }
        this.tokens.set(key, tok);
      }
      files.set(checkRelative(sat.path), { data: Buffer.from(tok.token), mode: secretMode(mode) });
    } else if (src.configMap) {
      let data = await this.data.configMap(ns, src.configMap.name!);
      if (!data && src.configMap.name === 'kube-root-ca.crt') data = { 'ca.crt': Buffer.from(this.data.caCert()) };
      if (!data && !src.configMap.optional) throw new VolumeError(`configmap "${src.configMap.name}" not found`);
      this.addKeys(files, data ?? {}, src.configMap.items, mode, `ConfigMap ${src.configMap.name}`, src.configMap.optional);
    } else if (src.secret) {
      const data = await this.data.secret(ns, src.secret.name!);
      if (!data && !src.secret.optional) throw new VolumeError(`secret "${src.secret.name}" not found`);
      this.addKeys(files, data ?? {}, src.secret.items, secretMode(mode), `Secret ${src.secret.name}`, src.secret.optional);
    } else if (src.downwardAPI) {
      this.addDownward(files, src.downwardAPI.items ?? [], mode);
    }
  }

  private async writeFiles(name: string, dir: string, files: Files): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    for (const [rel, f] of files) {
      const path = join(dir, rel);
      await mkdir(dirname(path), { recursive: true });
      let same = false;
      try {
        same = (await readFile(path)).equals(f.data) && (statSync(path).mode & 0o777) === f.mode;
      } catch {
        same = false;
      }
      if (same) continue;
      const tmp = join(dirname(path), `..${process.pid}.tmp`);
      await writeFile(tmp, f.data, { mode: f.mode });
      await chmod(tmp, f.mode);
      await rename(tmp, path);
    }
    const before = this.written.get(name) ?? new Set(await listFiles(dir));
    for (const rel of before) if (!files.has(rel)) await rm(join(dir, rel), { force: true });
    this.written.set(name, new Set(files.keys()));
  }

  /** The container's bind mounts, in volumeMounts order. */
  mountsFor(container: V1Container, env: Record<string, string>): Mount[] {
    const mounts: Mount[] = [];
    const list = [...(container.volumeMounts ?? [])];
    if (this.saVolume) list.push({ name: this.saVolume, mountPath: serviceAccountMountPath, readOnly: true });
    for (const m of list) {
      const v = this.volumes.find((x) => x.name === m.name);
      if (!v) throw new VolumeError(`volume ${m.name} mounted by container ${container.name} is not defined`);
      let source = this.dirOf(m.name);
      const sub = m.subPathExpr ? expandVars(m.subPathExpr, env) : m.subPath;
      if (sub) {
        source = join(source, checkRelative(sub));
        if (!existsSync(source)) mkdirSync(source, { recursive: true });
      }
      const kind = existsSync(source) && statSync(source).isFile() ? 'file' : 'dir';
      mounts.push({ source, target: normalize(m.mountPath), readOnly: !!m.readOnly, recursive: !!v.hostPath, kind });
    }
    return mounts;
  }

  async remove(): Promise<void> {
    await rm(this.baseDir, { recursive: true, force: true });
  }
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(join(dir, prefix), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = prefix ? join(prefix, e.name) : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(relative('.', rel));
  }
  return out;
}
