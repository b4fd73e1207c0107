// What the fault suite measures with: a client pod that requests a URL every 0.25 s and logs `<epoch s> <code>`
// (curl's `000` for a refused, reset or timed-out request), read back with `kubectl logs` after the fault, so the
// record does not depend on the API server or on `kubectl exec` staying up during the fault.
import { serverManifest, type MeshFixture } from '@ambit/cluster';

/** The prober: a client Deployment (ServiceAccount `prober`) requesting `url`, optionally pinned to `node`. */
export function proberManifest(url: string, node?: string): string {
  const loop = `while true; do c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 ${url}); echo "$(date +%s.%N | cut -c1-14) $c"; sleep 0.25; done`;
  return serverManifest({ name: 'prober', node, command: ['sh', '-c', loop], port: false });
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

export const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));
