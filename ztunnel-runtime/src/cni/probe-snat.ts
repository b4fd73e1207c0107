// Istio's host-side probe SNAT: kubelet probes leave the host netns towards enrolled pods; they are SNATed to
// 169.254.7.127 (nat POSTROUTING, `-m owner --socket-exists`: only locally originated traffic), which the in-pod rules
// accept without redirecting, so probes reach the app directly. Istio keeps the enrolled pod IPs in an ipset (with
// the pod UID as comment); here one rule per pod in a chain of our own, commented `pod=<uid>`, so an IP reused by a
// new pod before the old pod's removal was processed keeps its rule. Several nodes may share one host netns (nodes run as processes or containers on one machine), so
// the chain name carries a short hash of the node name and each agent only touches its own chain.
import { createHash } from 'node:crypto';
import { logger, type LevelLogger } from '@ambit/mesh-api';
import { type CommandResult, run } from '../inpod/exec.js';

export const PROBE_SNAT_IP = '169.254.7.127';

/** `AMBIT-PROBE-<8 hex of sha256(node)>`: 20 characters, under iptables' 28. */
export function probeChainName(nodeName: string): string {
  return `AMBIT-PROBE-${createHash('sha256').update(nodeName).digest('hex').slice(0, 8)}`;
}

/** Runs `iptables <args>` somewhere (default: this process's netns, the host's with hostNetwork). */
export type IptablesRunner = (args: string[]) => Promise<CommandResult>;

export const hostIptables: IptablesRunner = (args) => run('iptables', ['-w', ...args]);

type Run = (cmd: string, args: string[]) => Promise<CommandResult>;

/**
 * The host's iptables backend, as Istio picks it: whichever of iptables-legacy / iptables-nft already holds more rules
 * (kube-proxy's), so our chain sits in the tables the node really uses. Falls back to plain `iptables`.
 */
export async function detectHostIptables(exec: Run = run, log: LevelLogger = logger('cni::probes')): Promise<{ binary: string; runner: IptablesRunner }> {
  const count = async (save: string) => {
    try {
      const r = await exec(save, []);
      return r.code === 0 ? r.stdout.split('\n').filter((l) => l.startsWith('-A ')).length : -1;
    } catch {
      return -1; // not installed
    }
  };
  const [legacy, nft] = await Promise.all([count('iptables-legacy-save'), count('iptables-nft-save')]);
  const binary = legacy < 0 && nft < 0 ? 'iptables' : legacy > nft ? 'iptables-legacy' : 'iptables-nft';
  log.info(`host iptables backend: ${binary} (rules: legacy=${Math.max(legacy, 0)} nft=${Math.max(nft, 0)})`);
  return { binary, runner: (args) => exec(binary, ['-w', ...args]) };
}

export interface ProbeSnatOptions {
  nodeName: string;
  snatIp?: string;
  iptables?: IptablesRunner;
  log?: LevelLogger;
}

export class ProbeSnat {
  readonly chain: string;
  readonly #snatIp: string;
  readonly #ipt: IptablesRunner;
  readonly #log: LevelLogger;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ProbeSnatOptions) {
    this.chain = probeChainName(opts.nodeName);
    this.#snatIp = opts.snatIp ?? PROBE_SNAT_IP;
    this.#ipt = opts.iptables ?? hostIptables;
    this.#log = opts.log ?? logger('cni::probes');
  }

  #rule(uid: string, ip: string): string[] {
    return ['-d', `${ip}/32`, '-p', 'tcp', '-m', 'owner', '--socket-exists', '-m', 'comment', '--comment', `pod=${uid}`, '-j', 'SNAT', '--to-source', this.#snatIp];
  }

  /** One change at a time: each is a check followed by an edit. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.#queue.then(fn);
    this.#queue = r.catch(() => undefined);
    return r;
  }

  async #ok(args: string[]): Promise<string> {
    const r = await this.#ipt(args);
    if (r.code !== 0) throw new Error(`iptables ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** Creates the chain (kept if it exists: rules from before a restart stay) and the jump from POSTROUTING. */
  start(): Promise<void> {
    return this.#serial(async () => {
      if ((await this.#ipt(['-t', 'nat', '-S', this.chain])).code !== 0) await this.#ok(['-t', 'nat', '-N', this.chain]);
      if ((await this.#ipt(['-t', 'nat', '-C', 'POSTROUTING', '-j', this.chain])).code !== 0) await this.#ok(['-t', 'nat', '-A', 'POSTROUTING', '-j', this.chain]);
    });
  }

  add(uid: string, ip: string): Promise<void> {
    if (ip.includes(':')) return Promise.resolve(); // IPv4 only, like the in-pod rules
    return this.#serial(async () => {
      if ((await this.#ipt(['-t', 'nat', '-C', this.chain, ...this.#rule(uid, ip)])).code === 0) return;
      await this.#ok(['-t', 'nat', '-A', this.chain, ...this.#rule(uid, ip)]);
    });
  }

  remove(uid: string, ip: string): Promise<void> {
    if (ip.includes(':')) return Promise.resolve();
    return this.#serial(async () => {
      for (let i = 0; i < 10; i++) if ((await this.#ipt(['-t', 'nat', '-D', this.chain, ...this.#rule(uid, ip)])).code !== 0) break;
    });
  }

  /** The pods (uid, IP) with a rule in our chain. */
  entries(): Promise<{ uid: string; ip: string }[]> {
    return this.#serial(async () => {
      const r = await this.#ipt(['-t', 'nat', '-S', this.chain]);
      if (r.code !== 0) return [];
      return [...r.stdout.matchAll(/^-A \S+ -d (\d+\.\d+\.\d+\.\d+)\/32 .*--comment "?pod=([^" ]+)"?/gm)].map((m) => ({ ip: m[1]!, uid: m[2]! }));
    });
  }

  /** Drops rules of pods not in `keepUids` (pods gone while the agent was down). */
  async prune(keepUids: Iterable<string>): Promise<void> {
    const k = new Set(keepUids);
    for (const { uid, ip } of await this.entries()) {
      if (k.has(uid)) continue;
      this.#log.info(`removing probe SNAT for a pod no longer enrolled uid=${uid} ip=${ip}`);
      await this.remove(uid, ip);
    }
  }

  /** Removes the jump and the chain (uninstall). */
  cleanup(): Promise<void> {
    return this.#serial(async () => {
      for (let i = 0; i < 10; i++) if ((await this.#ipt(['-t', 'nat', '-D', 'POSTROUTING', '-j', this.chain])).code !== 0) break;
      if ((await this.#ipt(['-t', 'nat', '-S', this.chain])).code !== 0) return;
      await this.#ok(['-t', 'nat', '-F', this.chain]);
      await this.#ok(['-t', 'nat', '-X', this.chain]);
    });
  }
}
