// istio-cni's in-pod redirection rules (HEAD / >= 1.24, REDIRECT variant; reference 6.2), applied inside a pod's
// network namespace with one `iptables-restore --noflush` per change (atomic), idempotently, and removable.
//
// What the rules do inside the pod netns:
// - outbound TCP of the app (not to 127.0.0.1, not via lo, not marked 0x539) -> REDIRECT :15001;
// - inbound TCP (not to 127.0.0.1, not to :15008, not marked) -> REDIRECT :15006; :15008 (HBONE) is left alone and
//   reaches ztunnel's in-netns listener directly;
// - sockets ztunnel creates carry SO_MARK 1337 (0x539/0xfff) and are never redirected;
// - connections ztunnel opens to the app with a spoofed client source (mark 0x539) get connmark 0x111; the app's
//   replies get mark 0x111 back and the policy route (fwmark 0x111 -> table 100: local 0.0.0.0/0 dev lo) delivers
//   them to ztunnel's transparent socket instead of sending them out eth0;
// - DNS (15053) only when `redirectDns` is on (ztunnel here has no DNS proxy: off by default).
// Probes: the kubelet probes from the host netns. The node agent SNATs that traffic to 169.254.7.127 on the host
// (src/cni/probe-snat.ts), and the `-s 169.254.7.127` accept in PREROUTING (its `-d` twin in OUTPUT is Istio's too) lets
// it reach the app without going through ztunnel, so a probe never depends on the mesh. Traffic the app sends to
// 127.0.0.1 or to its own IP (via `lo`) is not captured either (`! -d 127.0.0.1/32`, `-o lo -j ACCEPT`).
import { runInNetnsPath, runOkInNetnsPath } from './exec.js';

export interface InpodRulesConfig {
  /** ztunnel's socket mark (PACKET_MARK), 1337 = 0x539. */
  mark: number;
  /** Mask for both marks: 0xfff. */
  mask: number;
  /** Connmark/mark for spoofed-source return traffic: 0x111. */
  tproxyMark: number;
  outboundPort: number;
  inboundPlaintextPort: number;
  hbonePort: number;
  dnsPort: number;
  /** Redirect DNS (UDP/TCP 53) to `dnsPort`. Off: nothing here answers on 15053. */
  redirectDns: boolean;
  /** istio-cni's host-side probe SNAT address. */
  probeSnatIp: string;
  /** Install the policy route for spoofed-source return traffic (fwmark 0x111 -> table 100). */
  sourceSpoofRoutes: boolean;
  routeTable: number;
  /** Priority of the `ip rule` (Istio: 32764). */
  rulePriority: number;
}

export const DEFAULT_INPOD_RULES: Readonly<InpodRulesConfig> = Object.freeze({
  mark: 0x539,
  mask: 0xfff,
  tproxyMark: 0x111,
  outboundPort: 15001,
  inboundPlaintextPort: 15006,
  hbonePort: 15008,
  dnsPort: 15053,
  redirectDns: false,
  probeSnatIp: '169.254.7.127',
  sourceSpoofRoutes: true,
  routeTable: 100,
  rulePriority: 32764,
});

export type Table = 'mangle' | 'nat' | 'raw';
export const TABLES: readonly Table[] = ['mangle', 'nat', 'raw'];
/** Our chains and the built-in chain each hangs off. */
export const CHAINS = { ISTIO_PRERT: 'PREROUTING', ISTIO_OUTPUT: 'OUTPUT' } as const;

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * The rules, per table, in `iptables-save` spelling (what `listRules` reads back). Jumps from PREROUTING/OUTPUT are
 * included first. Tables without rules are absent.
 */
export function renderRules(partial: Partial<InpodRulesConfig> = {}): Partial<Record<Table, string[]>> {
  const c = { ...DEFAULT_INPOD_RULES, ...partial };
  const mark = `${hex(c.mark)}/${hex(c.mask)}`;
  const tmark = `${hex(c.tproxyMark)}/${hex(c.mask)}`;
  const jumps = ['-A PREROUTING -j ISTIO_PRERT', '-A OUTPUT -j ISTIO_OUTPUT'];
  const out: Partial<Record<Table, string[]>> = {
    mangle: [
      ...jumps,
      `-A ISTIO_PRERT -m mark --mark ${mark} -j CONNMARK --set-xmark ${tmark}`,
      `-A ISTIO_OUTPUT -m connmark --mark ${tmark} -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff`,
    ],
    nat: [
      ...jumps,
      `-A ISTIO_PRERT -s ${c.probeSnatIp}/32 -p tcp -m tcp -j ACCEPT`,
      `-A ISTIO_OUTPUT -d ${c.probeSnatIp}/32 -p tcp -m tcp -j ACCEPT`,
      `-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m tcp ! --dport ${c.hbonePort} -m mark ! --mark ${mark} -j REDIRECT --to-ports ${c.inboundPlaintextPort}`,
      ...(c.redirectDns
        ? [
            `-A ISTIO_OUTPUT ! -o lo -p udp -m mark ! --mark ${mark} -m udp --dport 53 -j REDIRECT --to-ports ${c.dnsPort}`,
            `-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m tcp --dport 53 -m mark ! --mark ${mark} -j REDIRECT --to-ports ${c.dnsPort}`,
          ]
        : []),
      `-A ISTIO_OUTPUT -p tcp -m mark --mark ${tmark} -j ACCEPT`,
      `-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT`,
      `-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark ${mark} -j REDIRECT --to-ports ${c.outboundPort}`,
    ],
  };
  if (c.redirectDns) {
    out.raw = [
      ...jumps,
      `-A ISTIO_OUTPUT -p udp -m mark --mark ${mark} -m udp --dport 53 -j CT --zone 1`,
      `-A ISTIO_PRERT -p udp -m mark ! --mark ${mark} -m udp --sport 53 -j CT --zone 1`,
    ];
  }
  return out;
}

/** What `iptables-save` shows of ours in one table: chain declarations and jump rules present. */
interface TableState {
  chains: Set<string>;
  /** Count of `-A <builtin> -j <our chain>` lines per our chain. */
  jumps: Map<string, number>;
  rules: string[];
}

/** Parses `iptables-save` output into our part of each table. */
export function parseSave(save: string): Record<Table, TableState> {
  const state = Object.fromEntries(TABLES.map((t) => [t, { chains: new Set<string>(), jumps: new Map<string, number>(), rules: [] as string[] }])) as Record<
    Table,
    TableState
  >;
  let table: Table | undefined;
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      const t = line.slice(1);
      table = (TABLES as readonly string[]).includes(t) ? (t as Table) : undefined;
      continue;
    }
    if (!table) continue;
    const s = state[table];
    const decl = /^:(\S+)/.exec(line);
    if (decl && decl[1]! in CHAINS) s.chains.add(decl[1]!);
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (!rule) continue;
    const [, chain, rest] = rule;
    if (chain! in CHAINS) {
      s.rules.push(line);
      continue;
    }
    const jump = /^-j (ISTIO_PRERT|ISTIO_OUTPUT)$/.exec(rest!);
    if (jump) {
      s.jumps.set(jump[1]!, (s.jumps.get(jump[1]!) ?? 0) + 1);
      s.rules.push(line);
    }
  }
  return state;
}

/**
 * `iptables-restore --noflush` input that makes the tables exactly `renderRules(cfg)`: chain declarations flush our
 * chains (creating them if missing), jumps are added only where absent (duplicates removed), and tables we no longer
 * use (raw, when DNS capture is off) lose our chains.
 */
export function buildApplyInput(current: Record<Table, TableState>, partial: Partial<InpodRulesConfig> = {}): string {
  const wanted = renderRules(partial);
  const lines: string[] = [];
  for (const table of TABLES) {
    const rules = wanted[table];
    const cur = current[table];
    if (!rules) {
      if (cur.chains.size > 0 || cur.jumps.size > 0) lines.push(...removeTableLines(table, cur));
      continue;
    }
    lines.push(`*${table}`);
    for (const chain of Object.keys(CHAINS)) lines.push(`:${chain} - [0:0]`);
    for (const [chain, builtin] of Object.entries(CHAINS)) {
      const n = cur.jumps.get(chain) ?? 0;
      for (let i = 1; i < n; i++) lines.push(`-D ${builtin} -j ${chain}`);
      if (n === 0) lines.push(`-A ${builtin} -j ${chain}`);
    }
    lines.push(...rules.filter((r) => !/^-A (PREROUTING|OUTPUT) -j /.test(r)));
    lines.push('COMMIT');
  }
  return lines.join('\n') + '\n';
}

function removeTableLines(table: Table, cur: TableState): string[] {
  const lines = [`*${table}`];
  for (const chain of cur.chains) lines.push(`:${chain} - [0:0]`);
  for (const [chain, builtin] of Object.entries(CHAINS)) {
    for (let i = 0; i < (cur.jumps.get(chain) ?? 0); i++) lines.push(`-D ${builtin} -j ${chain}`);
  }
  for (const chain of cur.chains) lines.push(`-X ${chain}`);
  lines.push('COMMIT');
  return lines;
}

/** `iptables-restore --noflush` input that removes every trace of ours (empty string: nothing installed). */
export function buildRemoveInput(current: Record<Table, TableState>): string {
  const lines: string[] = [];
  for (const table of TABLES) {
    const cur = current[table];
    if (cur.chains.size > 0 || cur.jumps.size > 0) lines.push(...removeTableLines(table, cur));
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

async function save(netnsPath: string): Promise<Record<Table, TableState>> {
  return parseSave(await runOkInNetnsPath(netnsPath, 'iptables-save', []));
}

async function restore(netnsPath: string, input: string): Promise<void> {
  if (input) await runOkInNetnsPath(netnsPath, 'iptables-restore', ['--noflush'], input);
}

/** The policy-routing part (`ip rule` + `ip route ... table 100`). */
function routeSpec(c: InpodRulesConfig) {
  return {
    rule: ['rule', 'add', 'fwmark', `${hex(c.tproxyMark)}/${hex(c.mask)}`, 'pref', String(c.rulePriority), 'lookup', String(c.routeTable)],
    route: ['route', 'replace', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', String(c.routeTable)],
  };
}

async function routingState(netnsPath: string, c: InpodRulesConfig): Promise<{ rules: string[]; routes: string[] }> {
  const rules = (await runOkInNetnsPath(netnsPath, 'ip', ['-4', 'rule', 'show', 'pref', String(c.rulePriority)]))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const r = await runInNetnsPath(netnsPath, 'ip', ['-4', 'route', 'show', 'table', String(c.routeTable)]);
  const routes = r.code === 0 ? r.stdout.split('\n').map((l) => l.trim()).filter(Boolean) : [];
  return { rules, routes };
}

/**
 * Installs (or brings back to spec) the in-pod rules inside the netns at `netnsPath`. Idempotent: applying twice
 * leaves exactly one copy; a changed config replaces the previous rules in one atomic restore per call.
 */
export async function applyRules(netnsPath: string, partial: Partial<InpodRulesConfig> = {}): Promise<void> {
  const c = { ...DEFAULT_INPOD_RULES, ...partial };
  await restore(netnsPath, buildApplyInput(await save(netnsPath), c));
  if (c.sourceSpoofRoutes) {
    const spec = routeSpec(c);
    const cur = await routingState(netnsPath, c);
    if (cur.rules.length === 0) await runOkInNetnsPath(netnsPath, 'ip', ['-4', ...spec.rule]);
    await runOkInNetnsPath(netnsPath, 'ip', ['-4', ...spec.route]);
  }
}

/** Removes our chains, jumps, policy rule and route table from the netns; no-op when nothing is installed. */
export async function removeRules(netnsPath: string, partial: Partial<InpodRulesConfig> = {}): Promise<void> {
  const c = { ...DEFAULT_INPOD_RULES, ...partial };
  await restore(netnsPath, buildRemoveInput(await save(netnsPath)));
  const cur = await routingState(netnsPath, c);
  for (let i = 0; i < cur.rules.length; i++) {
    await runOkInNetnsPath(netnsPath, 'ip', ['-4', 'rule', 'del', 'pref', String(c.rulePriority)]);
  }
  if (cur.routes.length > 0) await runOkInNetnsPath(netnsPath, 'ip', ['-4', 'route', 'flush', 'table', String(c.routeTable)]);
}

export interface InstalledRules {
  /** Per table, our lines as `iptables-save` prints them (jumps first, then ISTIO_* chains). Empty: none. */
  iptables: Record<Table, string[]>;
  /** `ip rule` lines at our priority. */
  ipRules: string[];
  /** Routes in our table. */
  ipRoutes: string[];
}

/** What is installed in the netns (for tests and `ztunnel-config`). */
export async function listRules(netnsPath: string, partial: Partial<InpodRulesConfig> = {}): Promise<InstalledRules> {
  const c = { ...DEFAULT_INPOD_RULES, ...partial };
  const st = await save(netnsPath);
  const iptables = Object.fromEntries(TABLES.map((t) => [t, st[t].rules])) as Record<Table, string[]>;
  const { rules, routes } = await routingState(netnsPath, c);
  return { iptables, ipRules: rules, ipRoutes: routes };
}

/** True when `listRules` shows exactly the rules `renderRules(cfg)` expects (order within a chain included). */
export function rulesMatch(installed: InstalledRules, partial: Partial<InpodRulesConfig> = {}): boolean {
  const wanted = renderRules(partial);
  return TABLES.every((t) => {
    const w = (wanted[t] ?? []).slice().sort(chainOrder);
    const got = installed.iptables[t].slice().sort(chainOrder);
    return w.length === got.length && w.every((l, i) => l === got[i]);
  });
}

// iptables-save groups rules by chain (chains in name order); compare by chain, keeping order within a chain.
function chainOrder(a: string, b: string): number {
  const ca = a.split(' ')[1]!;
  const cb = b.split(' ')[1]!;
  return ca < cb ? -1 : ca > cb ? 1 : 0;
}
