// Finds cluster credentials as kubectl does (--kubeconfig, else $KUBECONFIG merged first-wins, else ~/.kube/config,
// else the in-cluster service account) and reads them with @kubernetes/client-node's KubeConfig, adapted to the
// ClusterAccess shape KubeClient needs. client-node is imported only when credentials are loaded, so CLI commands
// that never talk to the cluster (`version`, `--help`) start without it.
import { existsSync, readFileSync } from 'node:fs';
import type https from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { Cluster, Context, KubeConfig, User } from '@kubernetes/client-node';
import { parse } from 'yaml';

type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];

export interface ClusterAccess {
  /** https://host:port, no trailing slash. */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTLSVerify?: boolean;
  tlsServerName?: string;
  /**
   * Returns the bearer token to send, asked again for every request: token files rotate, exec and auth-provider
   * credentials expire (client-node re-runs the plugin when they do).
   */
  token?: () => string | undefined | Promise<string | undefined>;
  basic?: { username: string; password: string };
  /** The context's namespace, or `default`. */
  namespace: string;
  /** Where the credentials came from, for error messages. */
  source: string;
}

export class KubeConfigError extends Error {}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Our auth-provider name for kubectl's `tokenFile` user field, which client-node does not read (not `config.tokenFile`:
 * client-node's FileAuth would claim it and send the file untrimmed). */
const TOKEN_FILE = 'ambit-token-file';
/** Our auth-provider name for a ClusterAccess's own token function (toKubeConfig). */
const ACCESS_TOKEN = 'ambit-access-token';

export interface LoadOptions {
  kubeconfig?: string;
  context?: string;
  env?: NodeJS.ProcessEnv;
}

type ClientNode = typeof import('@kubernetes/client-node');
const clientNode = (): Promise<ClientNode> => import('@kubernetes/client-node');

/** The kubeconfig files to read, in kubectl's order; empty when none exists. */
function kubeconfigFiles(opts: LoadOptions, env: NodeJS.ProcessEnv): string[] {
  if (opts.kubeconfig) {
    if (!existsSync(opts.kubeconfig)) throw new KubeConfigError(`kubeconfig file ${opts.kubeconfig} does not exist`);
    return [opts.kubeconfig];
  }
  if (env.KUBECONFIG) return env.KUBECONFIG.split(':').filter((f) => f && existsSync(f));
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  return existsSync(home) ? [home] : [];
}

/** A client-node KubeConfig set to the chosen context, and where it came from. */
export async function loadKubeConfig(opts: LoadOptions = {}): Promise<{ kc: KubeConfig; source: string }> {
  const env = opts.env ?? process.env;
  const files = kubeconfigFiles(opts, env);
  if (files.length === 0) {
    if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_DIR, 'token'))) return { kc: await inCluster(env), source: 'in-cluster service account' };
    throw new KubeConfigError('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config');
  }
  const { KubeConfig } = await clientNode();
  const clusters: Cluster[] = [];
  const users: User[] = [];
  const contexts: Context[] = [];
  let current: string | undefined;
  for (const file of files) {
    const one = new KubeConfig();
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
      // FILTER: an incomplete entry the context does not use is no reason to refuse the file (kubectl reads it too).
      if (text.trim()) one.loadFromString(text, { onInvalidEntry: 'filter' });
    } catch (err) {
      throw new KubeConfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
    }
    one.makePathsAbsolute(dirname(file));
    const tokenFiles = text.includes('tokenFile') ? tokenFilesOf(text, dirname(file)) : new Map<string, string>();
    // kubectl's merge: the first file to define a name wins, and so does the first current-context.
    // client-node refuses a plain-http server (kubectl proxy's) unless TLS checks are off, which mean nothing there.
    for (const c of one.getClusters()) if (!clusters.some((x) => x.name === c.name)) clusters.push(c.server.startsWith('http:') ? { ...c, skipTLSVerify: true } : c);
    for (const u of one.getUsers()) {
      if (users.some((x) => x.name === u.name)) continue;
      const tf = tokenFiles.get(u.name);
      users.push(tf && !u.token && !u.exec && !u.authProvider ? { ...u, authProvider: { name: TOKEN_FILE, config: { path: tf } } } : u);
    }
    for (const x of one.getContexts()) if (!contexts.some((y) => y.name === x.name)) contexts.push(x);
    current ||= one.getCurrentContext() || undefined;
  }
  const source = files.join(':');
  const kc = new KubeConfig();
  kc.addAuthenticator(tokenFileAuthenticator());
  kc.loadFromOptions({ clusters, users, contexts, currentContext: current ?? '' });
  if (opts.context) kc.setCurrentContext(opts.context);
  const name = kc.getCurrentContext();
  if (!name) throw new KubeConfigError(`kubeconfig ${source} has no current-context: pass --context or run \`kubectl config use-context <name>\``);
  const ctx = kc.getContextObject(name);
  if (!ctx) throw new KubeConfigError(`context "${name}" not found in kubeconfig ${source} (contexts: ${contexts.map((c) => c.name).join(', ') || 'none'})`);
  if (!kc.getCluster(ctx.cluster)) throw new KubeConfigError(`cluster "${ctx.cluster}" not found in kubeconfig ${source} (or it has no server)`);
  // A context naming no known user connects anonymously, as kubectl does.
  if (!kc.getUser(ctx.user)) kc.addUser({ name: ctx.user });
  return { kc, source };
}

/** kubectl's `tokenFile` user field, by user name (absolute paths): client-node's User has no such field. */
function tokenFilesOf(text: string, dir: string): Map<string, string> {
  const doc = (parse(text) ?? {}) as { users?: Array<{ name?: string; user?: { tokenFile?: unknown } }> };
  const out = new Map<string, string>();
  for (const u of doc.users ?? []) {
    const f = u.user?.tokenFile;
    if (u.name && typeof f === 'string' && f) out.set(u.name, isAbsolute(f) ? f : join(dir, f));
  }
  return out;
}

/** Reads a `tokenFile` at most once a minute (client-go's period), trimmed, so a rotated token is picked up. */
function tokenFileAuthenticator(): Authenticator {
  const cache = new Map<string, { value: string; read: number }>();
  return {
    isAuthProvider: (user: User) => (user.authProvider as { name?: string } | undefined)?.name === TOKEN_FILE,
    applyAuthentication: async (user: User, opts: https.RequestOptions) => {
      const path = (user.authProvider as { config: { path: string } }).config.path;
      let c = cache.get(path);
      if (!c || Date.now() - c.read > 60_000) {
        c = { value: readFileSync(path, 'utf8').trim(), read: Date.now() };
        cache.set(path, c);
      }
      if (c.value) opts.headers = { ...opts.headers, Authorization: `Bearer ${c.value}` };
    },
  };
}

async function inCluster(env: NodeJS.ProcessEnv): Promise<KubeConfig> {
  const { KubeConfig } = await clientNode();
  const kc = new KubeConfig();
  kc.loadFromCluster();
  // loadFromCluster reads process.env; the server comes from the environment we were given (443 by default).
  const host = env.KUBERNETES_SERVICE_HOST!;
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`;
  const [cluster] = kc.getClusters();
  kc.loadFromOptions({ clusters: [{ ...cluster!, server }], users: kc.getUsers(), contexts: kc.getContexts(), currentContext: kc.getCurrentContext() });
  return kc;
}

/** Credentials, an HTTP Authorization header included, for one request; credential plugin failures name the source. */
async function credentials(kc: KubeConfig, source: string): Promise<https.RequestOptions> {
  const o: https.RequestOptions = {};
  try {
    await kc.applyToHTTPSOptions(o);
  } catch (err) {
    const user = kc.getCurrentUser();
    const exec = (user?.exec ?? (user?.authProvider as { config?: { exec?: unknown } } | undefined)?.config?.exec) as { command?: string } | undefined;
    const ctx = kc.getCurrentContext();
    const what = exec ? `exec credential plugin ${String(exec.command)}` : user?.authProvider ? `auth-provider ${String((user.authProvider as { name?: string }).name)}` : `context "${ctx}" (its cluster's CA or its user's certificate)`;
    throw new KubeConfigError(`kubeconfig ${what} failed: ${((err as Error).message || String(err)).trim()} (kubeconfig ${source}; ${exec ? 'run the plugin by hand to see why, or fix the user\'s exec entry' : 'fix the entry or the files it names'})`);
  }
  return o;
}

const bearer = (o: https.RequestOptions): string | undefined => {
  const h = (o.headers as Record<string, string> | undefined)?.Authorization;
  return h?.startsWith('Bearer ') ? h.slice(7) : undefined;
};
const buf = (v: unknown): Buffer | undefined => (v === undefined || v === null ? undefined : Buffer.isBuffer(v) ? v : Buffer.from(String(v)));

/** The ClusterAccess KubeClient needs, read from a loaded KubeConfig: TLS material once, the token per request. */
export async function clusterAccessOf(kc: KubeConfig, source: string): Promise<ClusterAccess> {
  const cluster = kc.getCurrentCluster()!;
  const user = kc.getCurrentUser();
  // Run once now, so a broken credential plugin is reported before any request (and exec client certificates land).
  const first = await credentials(kc, source);
  const access: ClusterAccess = {
    server: cluster.server.replace(/\/+$/, ''),
    ca: buf(first.ca),
    cert: buf(first.cert),
    key: buf(first.key),
    insecureSkipTLSVerify: cluster.skipTLSVerify && !cluster.server.startsWith('http:'),
    tlsServerName: cluster.tlsServerName,
    namespace: kc.getContextObject(kc.getCurrentContext())?.namespace?.trim() || 'default',
    source,
  };
  if (user?.token || user?.exec || user?.authProvider) access.token = async () => bearer(await credentials(kc, source));
  else if (user?.username) access.basic = { username: user.username, password: String(user.password ?? '') };
  return access;
}

export async function loadClusterAccess(opts: LoadOptions = {}): Promise<ClusterAccess> {
  const { kc, source } = await loadKubeConfig(opts);
  return clusterAccessOf(kc, source);
}

/**
 * A client-node KubeConfig for a ClusterAccess (for client-node's own helpers: exec, port-forward), whose token is
 * still asked of the access for every request.
 */
export async function toKubeConfig(a: ClusterAccess): Promise<KubeConfig> {
  const { KubeConfig } = await clientNode();
  const kc = new KubeConfig();
  const token = a.token;
  if (token) {
    kc.addAuthenticator({
      isAuthProvider: (u: User) => (u.authProvider as { name?: string } | undefined)?.name === ACCESS_TOKEN,
      applyAuthentication: async (_u: User, opts: https.RequestOptions) => {
        const t = await token();
        if (t) opts.headers = { ...opts.headers, Authorization: `Bearer ${t}` };
      },
    });
  }
  kc.loadFromClusterAndUser(
    { name: 'ambit', server: a.server, caData: a.ca?.toString('base64'), skipTLSVerify: a.insecureSkipTLSVerify ?? false, tlsServerName: a.tlsServerName },
    {
      name: 'ambit',
      certData: a.cert?.toString('base64'),
      keyData: a.key?.toString('base64'),
      authProvider: token ? { name: ACCESS_TOKEN } : undefined,
      username: a.basic?.username,
      password: a.basic?.password,
    },
  );
  return kc;
}
