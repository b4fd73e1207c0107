// System: Ctrl-C in the middle of `npm run demo` leaves nothing behind. The demo runs in its own process group
// and gets SIGINT on the whole group, as a terminal's Ctrl-C delivers it (to the demo and the cluster processes
// it started; the walkthrough's commands run detached, so the demo must kill those itself).
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildControlPlane, readMachineLock, waitFor } from '@ambit/cluster';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../../../..');
const stateRoot = join(repo, '.ambit');
const stateDir = join(stateRoot, 'cluster');
const lockFile = '/run/ambit-cluster.json';

// The demo starts the machine's one local cluster: never run this next to a cluster someone else started. Then the
// test fails, saying why, without touching that cluster: a system test that did not run is never a pass or a skip.
const running = await readMachineLock();
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const busy = running && alive(running.pid) ? `a local cluster already runs (pid ${running.pid}, state ${running.stateDir})` : '';
function maybe(title: string, impl: (t: ExecutionContext) => Promise<void>): void {
  if (busy) test(title, (t) => t.fail(`not run: ${busy}; stop it (npm run cluster:down) and run again`));
  else test(title, impl);
}

function sh(cmd: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.on('close', (code) => resolve({ code: code ?? 1, stdout }));
    c.on('error', () => resolve({ code: 127, stdout: '' }));
  });
}

interface Proc { pid: number; ppid: number; exe: string; cmdline: string; environ: string }
async function processes(): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = await readFile(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      out.push({
        pid: Number(e),
        ppid: Number(fields[1]),
        exe: (await readlink(`/proc/${e}/exe`).catch(() => '')).replace(/ \(deleted\)$/, ''),
        cmdline: (await readFile(`/proc/${e}/cmdline`, 'utf8')).replace(/\0/g, ' '),
        environ: await readFile(`/proc/${e}/environ`, 'utf8').catch(() => ''),
      });
    } catch {
      /* gone, or a kernel thread */
    }
  }
  return out;
}

/** What a stopped demo must not leave: the checks of test/cluster/test/system/helpers.ts, by their commands. */
async function leftovers(binDir: string, before: { pids: Set<number>; netns: Set<string> }) {
  const procs = (await processes()).filter((p) => p.pid !== process.pid && !before.pids.has(p.pid));
  const netns = (await sh('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith('ambit-'));
  const saved = (await sh('iptables-save', [])).stdout + (await sh('ip6tables-save', [])).stdout;
  return {
    // Cluster components and pods (their command lines name the state dir), orphans from the bin dir, and the
    // walkthrough's commands (kubectl, curl: KUBECONFIG names the state dir).
    processes: procs
      .filter((p) => p.cmdline.includes(stateDir) || p.environ.includes(`KUBECONFIG=${stateDir}/`) || (p.exe.startsWith(`${binDir}/`) && p.ppid === 1))
      .map((p) => `${p.pid} ${p.cmdline.slice(0, 120)}`),
    netns: netns.filter((n) => !before.netns.has(n)),
    bridge: (await sh('ip', ['link', 'show', 'ambit0'])).code === 0,
    chains: [...new Set(saved.split('\n').filter((l) => /^:(AMBIT|KUBE)-/.test(l)).map((l) => l.split(' ')[0]!.slice(1)))],
    mounts: (await readFile('/proc/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m === stateRoot || m.startsWith(`${stateRoot}/`)),
    lock: existsSync(lockFile),
    stateDir: existsSync(stateDir),
  };
}

maybe('Ctrl-C at step 3 of npm run demo stops the walkthrough and the cluster, and leaves nothing behind', async (t) => {
  const binDir = await buildControlPlane();
  const before = {
    pids: new Set((await processes()).map((p) => p.pid)),
    netns: new Set((await sh('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean)),
  };
  const demo = spawn(process.execPath, [join(repo, 'test/e2e/dist/src/demo.js')], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  demo.stdout.on('data', (b: Buffer) => (output += b.toString()));
  demo.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => demo.on('exit', (code, signal) => r({ code, signal })));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((e) => (exit = e));
  try {
    await waitFor('the demo to reach step 3', async () => (exit ? Promise.reject(new Error(`the demo exited: ${output}`)) : /^3\. /m.test(output) || undefined), 600_000, 1000);
    // Step 3's first command is running now (a detached `sh -c`): interrupt it, as Ctrl-C does.
    await waitFor('a walkthrough command to run', async () => (await processes()).some((p) => p.environ.includes(`KUBECONFIG=${stateDir}/`)) || undefined, 60_000, 100);
    process.kill(-demo.pid!, 'SIGINT');
    const e = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 300_000).unref())]);
    t.deepEqual(e, { code: 130, signal: null }, output);
  } finally {
    if (!exit) try { process.kill(-demo.pid!, 'SIGKILL'); } catch { /* gone */ }
  }
  t.regex(output, /SIGINT: stopping the walkthrough and tearing the cluster down/);
  t.regex(output, /cluster stopped in/);
  t.log(output.split('\n').slice(-6).join('\n'));
  t.deepEqual(await leftovers(binDir, before), { processes: [], netns: [], bridge: false, chains: [], mounts: [], lock: false, stateDir: false });
});
