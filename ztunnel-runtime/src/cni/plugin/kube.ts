// A minimal Kubernetes API reader for the plugin (Node builtins only): loads the kubeconfig the installer writes
// (JSON, which is also valid YAML for kubectl) and GETs one object with the service account's token.
import fs from 'node:fs';
import https from 'node:https';

export interface PluginKubeconfig {
  server: string;
  token: string;
  ca?: Buffer;
  insecure: boolean;
}

/** Reads the first cluster/user of the kubeconfig the installer wrote; throws a one-line error on anything else. */
export function loadKubeconfig(path: string): PluginKubeconfig {
  let doc: {
    clusters?: { cluster?: { server?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean } }[];
    users?: { user?: { token?: string } }[];
  };
  try {
    doc = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read kubeconfig ${path}: ${(e as Error).message}`);
  }
  const cluster = doc.clusters?.[0]?.cluster;
  const token = doc.users?.[0]?.user?.token;
  if (!cluster?.server || !token) throw new Error(`kubeconfig ${path} has no server or token`);
  return {
    server: cluster.server.replace(/\/+$/, ''),
    token,
    ca: cluster['certificate-authority-data'] ? Buffer.from(cluster['certificate-authority-data'], 'base64') : undefined,
    insecure: cluster['insecure-skip-tls-verify'] === true,
  };
}

/** GET `apiPath`; undefined on 404; throws on other failures. */
export function getObject<T>(kc: PluginKubeconfig, apiPath: string, timeoutMs: number): Promise<T | undefined> {
  const url = new URL(kc.server + apiPath);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: 'GET',
        headers: { authorization: `Bearer ${kc.token}`, accept: 'application/json' },
        ...(kc.ca ? { ca: kc.ca } : {}),
        rejectUnauthorized: !kc.insecure,
        timeout: timeoutMs,
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (data += d));
        res.on('end', () => {
          if (res.statusCode === 404) return resolve(undefined);
          if (res.statusCode !== 200) return reject(new Error(`GET ${apiPath}: HTTP ${res.statusCode}`));
          try {
            resolve(JSON.parse(data) as T);
          } catch {
            reject(new Error(`GET ${apiPath}: the answer is not JSON`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${apiPath}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
