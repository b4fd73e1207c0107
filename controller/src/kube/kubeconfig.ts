// Finds and reads cluster credentials: --kubeconfig, else $KUBECONFIG (a list, merged first-wins), else
// ~/.kube/config, else the in-cluster service account. A small reader of its own (not @kubernetes/client-node's)
// so the CLI starts fast; it covers certificate, token, token-file, basic and exec credentials.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

export interface ClusterAccess {
  /** https://host:port, no trailing slash. */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTLSVerify?: boolean;
  tlsServerName?: string;
  /** Returns the bearer token to send (re-read for token files so rotation is picked up). */
  token?: () => string | undefined;
  basic?: { username: string; password: string };
  /** The context's namespace, or `default`. */
  namespace: string;
  /** Where the credentials came from, for error messages. */
  source: string;
}

export class KubeConfigError extends Error {}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface NamedCluster { name: string; cluster: Record<string, unknown> }
interface NamedUser { name: string; user: Record<string, unknown> }
interface NamedContext { name: string; context: { cluster: string; user: string; namespace?: string } }

export interface LoadOptions {
  kubeconfig?: string;
  context?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadClusterAccess(opts: LoadOptions = {}): ClusterAccess {
  const env = opts.env ?? process.env;
  let files: string[] = [];
  if (opts.kubeconfig) {
    if (!existsSync(opts.kubeconfig)) throw new KubeConfigError(`kubeconfig file ${opts.kubeconfig} does not exist`);
    files = [opts.kubeconfig];
  } else if (env.KUBECONFIG) {
    files = env.KUBECONFIG.split(':').filter((f) => f && existsSync(f));
  } else {
    const home = join(env.HOME ?? homedir(), '.kube', 'config');
    if (existsSync(home)) files = [home];
  }
  if (files.length === 0) {
    if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_DIR, 'token'))) return inCluster(env);
    throw new KubeConfigError('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config');
  }
  return fromFiles(files, opts.context);
}

function inCluster(env: NodeJS.ProcessEnv): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const tokenFile = join(SA_DIR, 'token');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(SA_DIR, 'ca.crt')),
    token: cachedFile(tokenFile),
    namespace: existsSync(join(SA_DIR, 'namespace')) ? readFileSync(join(SA_DIR, 'namespace'), 'utf8').trim() : 'default',
    source: 'in-cluster service account',
  };
}

function cachedFile(path: string): () => string {
  let value = '';
  let read = 0;
  return () => {
    if (Date.now() - read > 60_000) {
      value = readFileSync(path, 'utf8').trim();
      read = Date.now();
    }
    return value;
  };
}

function fromFiles(files: string[], contextName?: string): ClusterAccess {
  const clusters = new Map<string, { c: Record<string, unknown>; dir: string }>();
  const users = new Map<string, { u: Record<string, unknown>; dir: string }>();
  const contexts = new Map<string, NamedContext['context']>();
  let current = contextName;
  for (const file of files) {
    let doc: Record<string, unknown>;
    try {
      doc = (parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
    } catch (err) {
      throw new KubeConfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
    }
    const dir = dirname(file);
    for (const c of (doc.clusters as NamedCluster[] | undefined) ?? []) if (!clusters.has(c.name)) clusters.set(c.name, { c: c.cluster ?? {}, dir });
    for (const u of (doc.users as NamedUser[] | undefined) ?? []) if (!users.has(u.name)) users.set(u.name, { u: u.user ?? {}, dir });
    for (const x of (doc.contexts as NamedContext[] | undefined) ?? []) if (!contexts.has(x.name)) contexts.set(x.name, x.context);
    if (!current && typeof doc['current-context'] === 'string' && doc['current-context']) current = doc['current-context'];
  }
  const source = files.join(':');
  if (!current) throw new KubeConfigError(`kubeconfig ${source} has no current-context`);
  const ctx = contexts.get(current);
  if (!ctx) throw new KubeConfigError(`context "${current}" not found in kubeconfig ${source}`);
  const cl = clusters.get(ctx.cluster);
  if (!cl || typeof cl.c.server !== 'string') throw new KubeConfigError(`cluster "${ctx.cluster}" not found in kubeconfig ${source}`);
  const us = users.get(ctx.user) ?? { u: {}, dir: '' };
  const file = (p: unknown, dir: string) => readFileSync(isAbsolute(String(p)) ? String(p) : join(dir, String(p)));
  const b64 = (s: unknown) => Buffer.from(String(s), 'base64');
  const c = cl.c;
  const u = us.u;
  const access: ClusterAccess = {
    server: String(c.server).replace(/\/+$/, ''),
    namespace: ctx.namespace || 'default',
    source,
    insecureSkipTLSVerify: c['insecure-skip-tls-verify'] === true,
    tlsServerName: typeof c['tls-server-name'] === 'string' ? c['tls-server-name'] : undefined,
  };
  if (c['certificate-authority-data']) access.ca = b64(c['certificate-authority-data']);
  else if (c['certificate-authority']) access.ca = file(c['certificate-authority'], cl.dir);
  if (u['client-certificate-data']) access.cert = b64(u['client-certificate-data']);
  else if (u['client-certificate']) access.cert = file(u['client-certificate'], us.dir);
  if (u['client-key-data']) access.key = b64(u['client-key-data']);
  else if (u['client-key']) access.key = file(u['client-key'], us.dir);
  if (typeof u.token === 'string' && u.token) {
    const t = u.token;
    access.token = () => t;
  } else if (typeof u.tokenFile === 'string') {
    access.token = cachedFile(isAbsolute(u.tokenFile) ? u.tokenFile : join(us.dir, u.tokenFile));
  } else if (typeof u.username === 'string') {
    access.basic = { username: u.username, password: String(u.password ?? '') };
  } else if (u.exec && typeof u.exec === 'object') {
    const creds = execCredential(u.exec as Record<string, unknown>);
    if (creds.token) {
      const t = creds.token;
      access.token = () => t;
    }
    if (creds.clientCertificateData) access.cert = Buffer.from(creds.clientCertificateData);
    if (creds.clientKeyData) access.key = Buffer.from(creds.clientKeyData);
  }
  return access;
}

function execCredential(exec: Record<string, unknown>): { token?: string; clientCertificateData?: string; clientKeyData?: string } {
  const env = { ...process.env };
  for (const e of (exec.env as Array<{ name: string; value: string }> | undefined) ?? []) env[e.name] = e.value;
  try {
    const out = execFileSync(String(exec.command), (exec.args as string[] | undefined) ?? [], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    return (JSON.parse(out) as { status?: Record<string, string> }).status ?? {};
  } catch (err) {
    throw new KubeConfigError(`kubeconfig exec credential plugin ${String(exec.command)} failed: ${(err as Error).message}`);
  }
}
