// The getting-started walkthrough, end to end on the shared local cluster, in both dialects: every
// command's expectations (titles, exit code 56, Programmed, RBAC: access denied, ~10% reviews-v2) asserted.
import test from 'ava';
import { openTestCluster, type Shell, type TestCluster } from '@ambit/cluster';
import { diagnostics, runCommand } from '../../src/runner.js';
import { walkthrough, type Dialect, type Memo } from '../../src/walkthrough.js';

let opened: TestCluster | undefined;
let shell: Shell;

test.before(async () => {
  opened = await openTestCluster();
  shell = opened.shell;
});
test.after.always(async () => { await opened?.close(); });

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
