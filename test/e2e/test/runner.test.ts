// The walkthrough's `export GATEWAY_HOST=...` lines behave as in a user's terminal: later commands see the value.
import test from 'ava';
import { createShell } from '@ambit/cluster';
import { runCommand } from '../src/runner.js';

test('an export is seen by every later command, and is not run as a process', async (t) => {
  const shell = createShell({ kubeconfigPath: '/nonexistent', pathPrepend: [], cwd: process.cwd() });
  const exported = await runCommand(shell, { run: 'export GATEWAY_HOST=bookinfo-gateway-istio.istio-system' }, {});
  t.is(exported.result.code, 0);
  const seen = await runCommand(shell, { run: 'echo "http://$GATEWAY_HOST/productpage"' }, {});
  t.is(seen.result.stdout.trim(), 'http://bookinfo-gateway-istio.istio-system/productpage');
});

test('a command that only starts with export runs in the shell as typed', async (t) => {
  const shell = createShell({ kubeconfigPath: '/nonexistent', pathPrepend: [], cwd: process.cwd() });
  const r = await runCommand(shell, { run: 'export A=1; echo "a=$A"' }, {});
  t.is(r.result.stdout.trim(), 'a=1');
  t.is(shell.env.A, undefined);
});
