#!/usr/bin/env node
// npm run cluster:up | cluster:down
//   up         start the local cluster under a detached supervisor, write .ambit/kubeconfig, exit 0
//   down       stop it and remove everything (falls back to cleanupLeftovers when the supervisor is gone)
//   status     print the running cluster's record
//   load F...  load image archives (OCI or docker-archive) into every node, as `kind load image-archive` does
//   supervise  (internal) the supervisor itself: runs startCluster() and tears down on SIGTERM/SIGINT
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { copyFile, chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readMachineLock, startCluster, type Cluster } from './cluster.js';
import { cleanupLeftovers, cleanupStateDir, isAlive, processesMentioning } from './controlplane/cleanup.js';
import { sleep } from './controlplane/exec.js';
import { busyPorts } from './controlplane/health.js';
import { ambitDir, cliKubeconfig, defaultStateDir, nodeBinary, ports, supervisorLog, supervisorPidFile } from './controlplane/paths.js';

const statusFile = join(ambitDir, 'supervisor.status.json');

interface SupervisorStatus {
  state: 'starting' | 'ready' | 'failed' | 'stopping';
  pid: number;
  kubeconfig?: string;
  error?: string;
}

const alive = isAlive;

async function readPid(): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(supervisorPidFile, 'utf8')).trim());
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function readStatus(): Promise<SupervisorStatus | undefined> {
  try {
    return JSON.parse(await readFile(statusFile, 'utf8')) as SupervisorStatus;
  } catch {
    return undefined;
  }
}

const stamp = () => new Date().toISOString();

function nodesArg(args: string[]): number | undefined {
  const i = args.indexOf('--nodes');
  return i >= 0 ? Number(args[i + 1]) : undefined;
}

async function supervise(args: string[]): Promise<void> {
  const writeStatus = (s: Omit<SupervisorStatus, 'pid'>) => writeFile(statusFile, JSON.stringify({ ...s, pid: process.pid }) + '\n');
  await writeFile(supervisorPidFile, `${process.pid}\n`);
  await writeStatus({ state: 'starting' });
  let cluster: Cluster | undefined;
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${stamp()} ${why}: stopping the cluster`);
    await writeStatus({ state: 'stopping' }).catch(() => {});
    try {
      if (cluster) await cluster.stop();
      // Still starting: startCluster() has not handed over the cluster yet; remove what it made so far.
      else await cleanupStateDir(defaultStateDir);
    } catch (e) {
      console.log(`${stamp()} stop failed: ${(e as Error).message}; cleaning up leftovers`);
      await cleanupLeftovers().catch(() => {});
    }
    await rm(cliKubeconfig, { force: true });
    await rm(statusFile, { force: true });
    await rm(supervisorPidFile, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => {});
  process.on('unhandledRejection', (e) => console.log(`${stamp()} unhandled rejection: ${(e as Error)?.stack ?? String(e)}`));
  try {
    cluster = await startCluster({ nodes: nodesArg(args), stateDir: defaultStateDir, log: (l) => console.log(`${stamp()} ${l}`) });
  } catch (e) {
    console.log(`${stamp()} start failed: ${(e as Error).stack}`);
    await writeStatus({ state: 'failed', error: (e as Error).message });
    await rm(supervisorPidFile, { force: true });
    process.exit(1);
  }
  if (stopping) return;
  await copyFile(cluster.kubeconfigPath, cliKubeconfig);
  await chmod(cliKubeconfig, 0o600);
  await writeStatus({ state: 'ready', kubeconfig: cliKubeconfig });
  console.log(`${stamp()} supervising; SIGTERM or SIGINT tears the cluster down`);
  setInterval(() => {}, 1 << 30); // stay alive
}

async function up(args: string[]): Promise<number> {
  await mkdir(ambitDir, { recursive: true });
  const pid = await readPid();
  if (pid && alive(pid)) {
    const status = await readStatus();
    if (status?.state === 'ready') {
      console.log(`The local cluster is already running (supervisor pid ${pid}).`);
      await printUsage();
      return 0;
    }
  } else {
    const lock = await readMachineLock();
    if (lock && alive(lock.pid)) {
      console.error(`Another local cluster runs on this machine (pid ${lock.pid}, state ${lock.stateDir}); stop it first.`);
      return 1;
    }
    await rm(statusFile, { force: true });
    const out = openSync(supervisorLog, 'a');
    const child = spawn(nodeBinary, ['--enable-source-maps', fileURLToPath(import.meta.url), 'supervise', ...args], {
      detached: true,
      stdio: ['ignore', out, out],
      cwd: process.cwd(),
    });
    child.unref();
    closeSync(out);
    console.log(`Starting the local cluster (supervisor pid ${child.pid}, log ${supervisorLog}) ...`);
  }
  const started = Date.now();
  for (;;) {
    const status = await readStatus();
    if (status?.state === 'ready') break;
    if (status?.state === 'failed') {
      console.error(`The cluster failed to start: ${status.error}\nSee ${supervisorLog}`);
      return 1;
    }
    const p = await readPid();
    if (Date.now() - started > 5000 && !(p && alive(p)) && !(status && alive(status.pid))) {
      console.error(`The supervisor died while starting; see ${supervisorLog}`);
      return 1;
    }
    if (Date.now() - started > 10 * 60_000) {
      console.error(`The cluster is not ready after 10 minutes; see ${supervisorLog}`);
      return 1;
    }
    await sleep(500);
  }
  console.log(`The local cluster is up (${((Date.now() - started) / 1000).toFixed(1)}s).`);
  await printUsage();
  return 0;
}

async function printUsage(): Promise<void> {
  const lock = await readMachineLock();
  const kubectlLine = lock?.binDir ? `  export PATH=${lock.binDir}:$PATH   # kubectl and the other binaries of this cluster\n` : '';
  console.log(`
  export KUBECONFIG=${cliKubeconfig}
${kubectlLine}  kubectl get nodes

Nodes: ${lock?.nodeNames.join(', ') || '(none)'}. Component logs: ${join(defaultStateDir, 'logs')}.
Stop it with: npm run cluster:down`);
}

async function down(force: boolean): Promise<number> {
  const pid = (await readPid()) ?? (await readMachineLock())?.pid;
  let clean = false;
  if (pid && alive(pid)) {
    console.log(`Stopping the local cluster (supervisor pid ${pid}) ...`);
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 90_000;
    while (alive(pid) && Date.now() < deadline) await sleep(300);
    if (alive(pid)) {
      console.log('The supervisor did not stop in 90s; killing it.');
      process.kill(pid, 'SIGKILL');
    } else {
      clean = true;
    }
  }
  // A supervisor that stopped cleanly removed everything of its own; otherwise (dead supervisor, crashed test)
  // remove every leftover of a local cluster on this machine, unless a cluster we know nothing about still
  // runs (its ports answer): that one belongs to someone else's startCluster().
  const ours = !!pid || (await readMachineLock())?.stateDir === defaultStateDir || (await processesMentioning(defaultStateDir)).length > 0;
  if (!clean && !force && !ours) {
    const busy = await busyPorts([ports.apiserver, ports.etcdClient]);
    if (busy.length) {
      console.error(
        `A local cluster not started by cluster:up runs here (ports ${busy.join(', ')} answer; ${JSON.stringify(await readMachineLock()) ?? 'no lock'}).\n` +
          'Not touching it. Stop it where it was started, or run `cli.js down --force`.',
      );
      return 1;
    }
  }
  const removed = clean ? await cleanupStateDir(defaultStateDir) : await cleanupLeftovers();
  if (removed.length) console.log(`Removed leftovers:\n  ${removed.join('\n  ')}`);
  await rm(cliKubeconfig, { force: true });
  await rm(statusFile, { force: true });
  await rm(supervisorPidFile, { force: true });
  console.log('The local cluster is down.');
  return 0;
}

async function status(): Promise<number> {
  const lock = await readMachineLock();
  if (!lock || !alive(lock.pid)) {
    console.log('No local cluster is running.');
    return 1;
  }
  console.log(JSON.stringify({ ...lock, supervisor: await readStatus() }, null, 2));
  return 0;
}

async function load(files: string[]): Promise<number> {
  const lock = await readMachineLock();
  if (!lock || !alive(lock.pid)) {
    console.error('No local cluster is running: start it with npm run cluster:up');
    return 1;
  }
  if (!files.length) {
    console.error('usage: npm run cluster:load -- <image archive>...');
    return 2;
  }
  const { buildNodeBinaries } = await import('./realnode/build.js');
  const { ArchiveError, loadArchive } = await import('./realnode/load.js');
  const ctr = join(await buildNodeBinaries(), 'ctr');
  for (const f of files) {
    try {
      const r = await loadArchive(lock.stateDir, ctr, f);
      console.log(`loaded ${r.names.join(', ')} into ${r.nodes.join(', ')}`);
    } catch (e) {
      if (!(e instanceof ArchiveError) && !/not an image archive/.test((e as Error).message)) throw e;
      console.error((e as Error).message);
      return 1;
    }
  }
  return 0;
}

async function main(): Promise<void> {
  const [cmd, ...args] = process.argv.slice(2);
  if (process.getuid?.() !== 0) {
    console.error('The local cluster needs root (network namespaces, iptables).');
    process.exitCode = 1;
    return;
  }
  switch (cmd) {
    case 'up':
      process.exitCode = await up(args);
      break;
    case 'down':
      process.exitCode = await down(args.includes('--force'));
      break;
    case 'status':
      process.exitCode = await status();
      break;
    case 'load':
      process.exitCode = await load(args);
      break;
    case 'supervise':
      await supervise(args);
      break;
    default:
      console.error('usage: cli.js up [--nodes N] | down [--force] | status | load <archive>...');
      process.exitCode = 2;
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
