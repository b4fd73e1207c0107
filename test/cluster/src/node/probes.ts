// Startup, liveness and readiness probes: httpGet and tcpSocket run inside the pod's network namespace (nsenter
// --net), exec runs in the container's namespaces with its environment. No readinessProbe: ready once running
// (and started).
import { spawn } from 'node:child_process';
import type { V1Container, V1Probe } from '@kubernetes/client-node';
import type { ContainerRunner, PodContext } from './container.js';

export type ProbeKind = 'startup' | 'liveness' | 'readiness';

export function resolvePort(port: number | string | undefined, container: V1Container): number | undefined {
  if (typeof port === 'number') return port;
  if (port === undefined) return undefined;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

export interface ProbeTarget {
  /** The pod's network namespace (undefined: hostNetwork). */
  netns?: string;
  podIP: string;
  /** The container's pid, for exec handlers. */
  pid?: number;
  env: Record<string, string>;
  workingDir: string;
}

/** The command line of one probe attempt (undefined: probe kind not supported). */
export function probeCommand(probe: V1Probe, container: V1Container, target: ProbeTarget): string[] | undefined {
  const timeout = Math.max(1, probe.timeoutSeconds ?? 1);
  const netPrefix = target.netns ? ['nsenter', `--net=/run/netns/${target.netns}`, '--'] : [];
  if (probe.httpGet) {
    const h = probe.httpGet;
    const port = resolvePort(h.port as number | string, container);
    if (port === undefined) return undefined;
    const scheme = (h.scheme ?? 'HTTP').toLowerCase();
    const host = h.host || target.podIP;
    const path = h.path ? (h.path.startsWith('/') ? h.path : `/${h.path}`) : '/';
    const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
    const headers = (h.httpHeaders ?? []).flatMap((x) => ['-H', `${x.name}: ${x.value}`]);
    const hasUa = (h.httpHeaders ?? []).some((x) => x.name.toLowerCase() === 'user-agent');
    return [...netPrefix, 'curl', '-s', '-k', '-o', '/dev/null', '-w', '%{http_code}', '-m', String(timeout), ...(hasUa ? [] : ['-H', 'User-Agent: kube-probe/1.36']), ...headers, url];
  }
  if (probe.tcpSocket || probe.grpc) {
    const port = probe.tcpSocket ? resolvePort(probe.tcpSocket.port as number | string, container) : probe.grpc!.port;
    if (port === undefined) return undefined;
    const host = probe.tcpSocket?.host || target.podIP;
    return [...netPrefix, 'timeout', String(timeout), 'bash', '-c', 'exec 3<>"/dev/tcp/$0/$1"', host, String(port)];
  }
  if (probe.exec?.command?.length) {
    if (!target.pid) return undefined;
    const ns = target.netns ? ['--net', '--uts'] : [];
    // --wd without a path: the container's own working directory (its path may be hidden by a mount).
    return ['timeout', String(timeout), 'nsenter', `--target=${target.pid}`, '--mount', ...ns, '--wd', '--', ...probe.exec.command];
  }
  return undefined;
}

export function probeOutcome(probe: V1Probe, code: number | null, stdout: string): boolean {
  if (code !== 0) return false;
  if (probe.httpGet) {
    const status = Number(stdout.trim());
    return status >= 200 && status < 400;
  }
  return true;
}

function runProbe(argv: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'], env });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', () => resolve({ code: 127, stdout }));
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

export class Prober {
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(
    private readonly runner: ContainerRunner,
    private readonly ctx: PodContext,
  ) {}

  start(): void {
    const spec = this.runner.spec;
    if (!spec.readinessProbe) {
      if (this.runner.started) this.setReady(true);
    }
    if (spec.startupProbe) this.schedule('startup', spec.startupProbe);
    else this.afterStartup();
  }

  private afterStartup(): void {
    const spec = this.runner.spec;
    if (spec.livenessProbe) this.schedule('liveness', spec.livenessProbe);
    if (spec.readinessProbe) this.schedule('readiness', spec.readinessProbe);
    else this.setReady(true);
  }

  private setReady(ready: boolean): void {
    if (this.runner.ready !== ready && !this.stopped) {
      this.runner.ready = ready;
      this.ctx.log(`pod ${this.ctx.namespace}/${this.ctx.name} container ${this.runner.name} ${ready ? 'ready' : 'not ready'}`);
      this.ctx.changed();
    }
  }

  private schedule(kind: ProbeKind, probe: V1Probe): void {
    const period = Math.max(1, probe.periodSeconds ?? 10) * 1000;
    const successThreshold = kind === 'readiness' ? Math.max(1, probe.successThreshold ?? 1) : 1;
    const failureThreshold = Math.max(1, probe.failureThreshold ?? 3);
    let successes = 0;
    let failures = 0;
    const tick = async (): Promise<void> => {
      if (this.stopped || !this.runner.running) return;
      const argv = probeCommand(probe, this.runner.spec, {
        netns: this.ctx.netns,
        podIP: this.ctx.podIP() ?? '127.0.0.1',
        pid: this.runner.pid,
        env: this.runner.env,
        workingDir: this.runner.workingDir,
      });
      let ok = false;
      let detail = '';
      if (argv) {
        const r = await runProbe(argv, probe.exec ? this.runner.env : { PATH: process.env.PATH ?? '' });
        ok = probeOutcome(probe, r.code, r.stdout);
        if (!ok) detail = probe.httpGet ? (Number(r.stdout) > 0 ? `HTTP probe failed with statuscode: ${r.stdout.trim()}` : 'connection failed') : `exit code ${r.code}`;
      }
      if (this.stopped || !this.runner.running) return;
      if (ok) {
        successes++;
        failures = 0;
      } else {
        failures++;
        successes = 0;
        const what = `${kind[0]!.toUpperCase()}${kind.slice(1)} probe failed`;
        this.ctx.event('Warning', 'Unhealthy', detail ? `${what}: ${detail}` : what, this.runner.name);
      }
      let next = true;
      if (kind === 'startup') {
        if (ok) {
          this.runner.started = true;
          this.ctx.changed();
          next = false;
          this.afterStartup();
        } else if (failures >= failureThreshold) {
          next = false;
          void this.runner.killForRestart('failed startup probe');
        }
      } else if (kind === 'liveness') {
        if (failures >= failureThreshold) {
          next = false;
          void this.runner.killForRestart('failed liveness probe');
        }
      } else {
        if (ok && successes >= successThreshold) this.setReady(true);
        if (!ok && failures >= failureThreshold) this.setReady(false);
      }
      if (next && !this.stopped) this.timers.push(setTimeout(() => void tick(), period));
    };
    const delay = Math.max(0, probe.initialDelaySeconds ?? 0) * 1000;
    this.timers.push(setTimeout(() => void tick(), delay));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}
