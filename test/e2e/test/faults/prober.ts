// What the fault suite measures with: a client pod that requests a URL every 0.25 s and logs `<epoch s> <code>`
// (curl's `000` for a refused, reset or timed-out request), read back with `kubectl logs` after the fault, so the
// record does not depend on the API server or on `kubectl exec` staying up during the fault.
import type { MeshFixture } from '@ambit/cluster';

export function proberManifest(url: string, node?: string): string {
  const loop = `while true; do c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 ${url}); echo "$(date +%s.%N | cut -c1-14) $c"; sleep 0.25; done`;
  return `
apiVersion: v1
kind: ServiceAccount
metadata: {name: prober}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prober}
spec:
  replicas: 1
  selector: {matchLabels: {app: prober}}
  template:
    metadata: {labels: {app: prober}}
    spec:
      serviceAccountName: prober
${node ? `      nodeSelector: {kubernetes.io/hostname: ${node}}\n` : ''}      terminationGracePeriodSeconds: 0
      containers:
      - name: prober
        image: ambit/test-tools:0.1.0
        command: ["sh", "-c", ${JSON.stringify(loop)}]
`;
}

export interface Probe {
  at: number;
  code: string;
}

/** The prober's records between `from` and `to` (epoch ms). */
export async function probes(f: MeshFixture, from: number, to: number): Promise<Probe[]> {
  const out = await f.must(['logs', '-n', f.ns, 'deploy/prober', '--tail=-1']);
  return out
    .split('\n')
    .map((l) => /^(\d+\.\d+) (\d{3})$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ at: Number(m[1]) * 1000, code: m[2]! }))
    .filter((p) => p.at >= from && p.at <= to);
}

/** A one-line account of the records that were not 200, for an assertion message. */
export const describeFailures = (ps: Probe[]) =>
  ps.filter((p) => p.code !== '200').map((p) => `${new Date(p.at).toISOString()} ${p.code}`).join(', ');

export const clientManifest = (name: string) => `
apiVersion: v1
kind: ServiceAccount
metadata: {name: ${name}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      serviceAccountName: ${name}
      terminationGracePeriodSeconds: 0
      containers:
      - name: ${name}
        image: ambit/test-tools:0.1.0
        command: ["sleep", "infinity"]
`;

export const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));
