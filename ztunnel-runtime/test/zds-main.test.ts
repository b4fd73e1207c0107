// The ztunnel binary in shared mode takes pods only from the node agent over ZDS: it connects to the agent's socket,
// is ready once the snapshot is applied, and never loads @kubernetes/client-node nor reads a kubeconfig.
// INPOD_SOURCE=zds (older manifests) is accepted; any other value exits 1 with a one-line error.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import type { LevelLogger } from '@ambit/mesh-api';
import { ZdsServer } from '../src/zds/index.js';

const main = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.js');
const quiet: LevelLogger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

const tempDirs: string[] = [];
test.after.always(() => tempDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function run(env: Record<string, string>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zds-main-'));
  tempDirs.push(dir);
  // Reports every module specifier that names client-node, however it is imported.
  const hook = path.join(dir, 'hook.mjs');
  fs.writeFileSync(
    hook,
    `import { registerHooks } from 'node:module';
registerHooks({ resolve(spec, ctx, next) { if (spec.includes('@kubernetes/client-node')) process.stderr.write('LOADED ' + spec + '\\n'); return next(spec, ctx); } });`,
  );
  const localXds = path.join(dir, 'mesh.yaml');
  fs.writeFileSync(localXds, 'workloads: []\n');
  const child = fork(main, [], {
    execArgv: ['--import', hook],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: {
      PATH: process.env.PATH ?? '',
      NODE_NAME: 'node-1',
      PROXY_MODE: 'shared',
      LOCAL_XDS_PATH: localXds,
      ADMIN_ADDR: 'off',
      READINESS_ADDR: 'off',
      STATS_ADDR: 'off',
      ...env,
    },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const ready = new Promise<boolean>((r) => {
    child.once('message', (m) => r((m as { ready?: boolean }).ready === true));
    child.once('exit', () => r(false));
  });
  return { child, dir, ready, exited, stderr: () => stderr };
}

/** A node agent's ZDS socket in a temporary directory. */
async function agentSocket(t: ExecutionContext): Promise<{ sock: string; server: ZdsServer }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zds-sock-'));
  tempDirs.push(dir);
  const sock = path.join(dir, 'ztunnel.sock');
  const server = new ZdsServer({ socketPath: sock, log: quiet });
  t.teardown(() => server.stop());
  await server.start();
  return { sock, server };
}

for (const [title, env] of [
  ['INPOD_SOURCE unset', {}],
  ['INPOD_SOURCE=zds (older manifests)', { INPOD_SOURCE: 'zds' }],
] as const) {
  test(`${title}: ready after the agent’s snapshot, no client-node loaded, no kubeconfig read, SIGTERM exits 0`, async (t) => {
    const { sock, server } = await agentSocket(t);
    // A kubeconfig that does not exist: shared mode must not need one.
    const zt = run({ ...env, ZDS_SOCKET: sock, KUBECONFIG: '/nonexistent/kubeconfig' });
    t.teardown(() => void zt.child.kill('SIGKILL'));
    t.true(await zt.ready, zt.stderr());
    for (let i = 0; i < 300 && !server.connected; i++) await new Promise((r) => setTimeout(r, 10)); // its ack may trail
    t.true(server.connected);
    t.regex(zt.stderr(), new RegExp(`inpodUds: ${sock}`));
    t.notRegex(zt.stderr(), /inpodSource|inpodNetnsDir/);
    t.regex(zt.stderr(), /pod received snapshot sent\tpods=0/);
    t.notRegex(zt.stderr(), /LOADED/);
    zt.child.kill('SIGTERM');
    t.is(await zt.exited, 0);
  });
}

for (const value of ['agent', 'cni']) {
  test(`INPOD_SOURCE=${value} is a one-line error naming the node agent, exit 1`, async (t) => {
    const zt = run({ INPOD_SOURCE: value });
    t.is(await zt.exited, 1);
    const fatal = zt.stderr().split('\n').filter((l) => l.includes('fatal:'));
    t.is(fatal.length, 1, zt.stderr());
    t.regex(
      fatal[0]!,
      new RegExp(`fatal: INPOD_SOURCE=${value} is not supported: ztunnel takes pods only from the node agent \\(the istio-cni-node DaemonSet\\) over ZDS_SOCKET; remove INPOD_SOURCE or set it to zds$`),
    );
    t.notRegex(zt.stderr(), /LOADED/);
  });
}
