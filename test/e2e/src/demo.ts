// `npm run demo`: brings up the local cluster, replays the getting-started walkthrough printing each command
// as a user types it with its real output, then tears everything down. `--keep` leaves the cluster running.
// `--dialect 2022` replays the 2022 seed (an istio-mesh Gateway YAML, DestinationRule + VirtualService).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildControlPlane, createShell, startCluster, type Cluster, type Shell } from '@ambit/cluster';
import { diagnostics, runSteps } from './runner.js';
import { GRAPH_FILE, walkthrough, type Dialect } from './walkthrough.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const keep = process.argv.includes('--keep');
const dialect: Dialect = process.argv.includes('--dialect') ? (process.argv[process.argv.indexOf('--dialect') + 1] as Dialect) : '2024';
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

async function main(): Promise<number> {
  if (dialect !== '2024' && dialect !== '2022') {
    console.error(`unknown dialect "${dialect}": use 2024 or 2022`);
    return 2;
  }
  console.log(dim('Building the Kubernetes control plane from the Go module proxy (cached after the first run)...'));
  const binDir = await buildControlPlane({ log: (l) => console.log(dim(l)) });
  console.log(dim('Starting the local cluster...'));
  // Ctrl-C (or SIGTERM) at any point: kill the running command's process group, wait for a cluster still
  // starting to be handed over (startCluster tears a failed start down itself), then stop it: nothing stays.
  const state: { starting?: Promise<Cluster | undefined>; shell?: Shell; interrupted?: boolean } = {};
  const interrupt = async (sig: NodeJS.Signals) => {
    if (state.interrupted) return;
    state.interrupted = true;
    console.log(dim(`\n${sig}: stopping the walkthrough and tearing the cluster down...`));
    await state.shell?.close();
    const cluster = await state.starting;
    await cluster?.stop();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      void interrupt(sig).then(
        () => process.exit(130),
        (err: Error) => { console.error(`teardown failed: ${err.message}`); process.exit(131); },
      );
    });
  }
  state.starting = startCluster({ log: (l) => console.log(dim(l)) }).catch((err: Error) => {
    if (!state.interrupted) throw err;
    return undefined;
  });
  const cluster = await state.starting;
  if (!cluster || state.interrupted) return new Promise<number>(() => {}); // the signal handler exits
  const shell = createShell({ kubeconfigPath: cluster.kubeconfigPath, pathPrepend: [join(repo, 'node_modules/.bin'), binDir], cwd: repo });
  state.shell = shell;
  const failure = await runSteps(shell, walkthrough(dialect), {
    step: (s) => console.log(`\n${bold(s.title)}`),
    command: ({ command, result, failed }) => {
      if (state.interrupted) return;
      if (command.quiet && failed.length === 0) return;
      console.log(`$ ${command.run}`);
      const out = (result.stdout + result.stderr).trimEnd();
      if (out) console.log(out);
      for (const f of failed) console.log(`!! expected ${f}`);
    },
  });
  if (state.interrupted) return new Promise<number>(() => {});
  if (failure) {
    console.log(`\nThe walkthrough stopped: "${failure.command.run}" did not show ${failure.failed.join('; ')}.`);
    console.log(dim(`What the cluster looked like:\n${await diagnostics(shell)}`));
  }
  else {
    console.log(`\n${bold('Every step showed what getting-started.md promises.')}`);
    if (existsSync(join(repo, GRAPH_FILE))) console.log(`The mesh as Prometheus saw it (step 7b): ${join(repo, GRAPH_FILE)}; on a running mesh, \`ambit dashboard\` serves it live.`);
  }
  if (keep) {
    console.log(`\nThe cluster is still running:\n  export KUBECONFIG=${cluster.kubeconfigPath}\n  export PATH=${binDir}:$PATH\nIt runs as long as this demo does: Ctrl-C here, or from another terminal: npm run cluster:down`);
  } else {
    console.log(dim('Tearing the cluster down...'));
    await cluster.stop();
  }
  return failure ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (err) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 1; });
