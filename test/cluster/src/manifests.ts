// The test workloads the cluster tests deploy (a server behind its Service, a client, a prober), built in one place
// so every test's pods share one shape: ServiceAccount, Service, Deployment (or a bare Pod) of ambit/test-tools.
import { stringify } from 'yaml';

export interface ServerManifestOptions {
  /** Name of the ServiceAccount, Service, Deployment (or Pod) and container, and the pods' `app` label; default `server`. */
  name?: string;
  /** `metadata.namespace` on every object; default none (the namespace of `kubectl -n`). */
  namespace?: string;
  /** Pins the pod to a node (`kubernetes.io/hostname`). */
  node?: string;
  /** Pod labels besides `app`. */
  labels?: Record<string, string>;
  /** Default `ambit/test-tools:0.1.0`. */
  image?: string;
  /** What the container runs; default python's http.server on `port` (serving `body` as `/` when given). */
  command?: string[];
  /** The text `GET /` answers with (python's http.server over a directory holding it as index.html). */
  body?: string;
  /** The port the container listens on (declared, and probed for readiness); default 8080. `false`: a client. */
  port?: number | false;
  /** The Service in front (targetPort `port`); default `{ port: 80, name: 'http' }` for a server, none for a client. */
  service?: { port: number; name?: string } | false;
  /** Default 2. */
  readinessPeriodSeconds?: number;
  /** A bare Pod named `name` (its hostname is then `name`) instead of a Deployment. */
  pod?: boolean;
}

/** YAML for a server (by default python's http.server behind Service `server`, port 80 -> 8080), a client or a prober. */
export function serverManifest(opts: ServerManifestOptions = {}): string {
  const name = opts.name ?? 'server';
  const port = opts.port ?? 8080;
  const service = opts.service ?? (port === false ? false : { port: 80, name: 'http' });
  const meta = (n: string, extra: Record<string, unknown> = {}) => ({ name: n, ...(opts.namespace ? { namespace: opts.namespace } : {}), ...extra });
  const serve = opts.body === undefined
    ? ['python3', '-m', 'http.server', String(port)]
    : ['sh', '-c', `mkdir -p /tmp/w && echo ${shellQuote(opts.body)} > /tmp/w/index.html && cd /tmp/w && exec python3 -m http.server ${port}`];
  const podSpec = {
    serviceAccountName: name,
    ...(opts.node ? { nodeSelector: { 'kubernetes.io/hostname': opts.node } } : {}),
    terminationGracePeriodSeconds: 0,
    containers: [
      {
        name,
        image: opts.image ?? 'ambit/test-tools:0.1.0',
        command: opts.command ?? serve,
        ...(port === false
          ? {}
          : { ports: [{ containerPort: port }], readinessProbe: { tcpSocket: { port }, periodSeconds: opts.readinessPeriodSeconds ?? 2 } }),
      },
    ],
  };
  const labels = { app: name, ...opts.labels };
  const docs: object[] = [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(name) }];
  if (service) {
    docs.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(name, { labels: { app: name } }),
      spec: { selector: { app: name }, ports: [{ ...(service.name ? { name: service.name } : {}), port: service.port, targetPort: port === false ? service.port : port }] },
    });
  }
  docs.push(
    opts.pod
      ? { apiVersion: 'v1', kind: 'Pod', metadata: meta(name, { labels }), spec: podSpec }
      : {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: meta(name),
          spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels }, spec: podSpec } },
        },
  );
  // Starting and ending with a newline, as the hand-written manifests did: `a + '---' + b` stays valid YAML.
  return `\n${docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n')}`;
}

/** `s` as one single-quoted shell word. */
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
