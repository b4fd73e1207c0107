// The getting-started walkthrough, end to end on the shared local cluster, in both dialects: every
// command's expectations (titles, exit code 56, Programmed, RBAC: access denied, ~10% reviews-v2) asserted.
import test from 'ava';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildControlPlane, connectCluster, startCluster, type Cluster } from '@ambit/cluster';
import { createShell, type Shell } from '../../src/shell.js';
import { diagnostics, runCommand } from '../../src/runner.js';
import { walkthrough, type Dialect, type Memo } from '../../src/walkthrough.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../../../..');
let cluster: Cluster;
let shell: Shell;
let owned = false;

test.before(async () => {
  const binDir = await buildControlPlane();
  if (process.env.AMBIT_KUBECONFIG) cluster = await connectCluster(process.env.AMBIT_KUBECONFIG);
  else { cluster = await startCluster(); owned = true; }
  shell = createShell({ kubeconfigPath: cluster.kubeconfigPath, pathPrepend: [join(repo, 'node_modules/.bin'), binDir], cwd: repo });
});
test.after.always(async () => { if (owned) await cluster.stop(); });

for (const dialect of ['2024', '2022'] as Dialect[]) {
  const memo: Memo = {};
  let broken: string | undefined;
  for (const step of walkthrough(dialect)) {
    test.serial(`${dialect} dialect: ${step.title}`, async (t) => {
      if (broken) t.fail(`an earlier step failed: ${broken}`);
      for (const command of step.commands) {
        const { result, failed } = await runCommand(shell, command, memo);
        if (failed.length > 0) {
          broken = command.run;
          t.log(`$ ${command.run}\n${result.stdout}${result.stderr}`);
          t.log(await diagnostics(shell));
        }
        t.deepEqual(failed, [], `${command.run}`);
        if (failed.length > 0) return;
      }
    });
  }
}
