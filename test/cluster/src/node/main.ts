// The virtual node agent's entry point: `node test/cluster/dist/src/node/main.js --config <file.json>`.
// Prints `node <name> ready` once the Node is registered and its podCIDR known; SIGTERM/SIGINT tear every pod down
// and exit 0.
import { loadNodeConfig } from './config.js';
import { NodeAgent } from './agent.js';
import { startKubelet } from './kubelet.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

async function main(): Promise<void> {
  const file = arg('--config');
  if (!file) {
    process.stderr.write('usage: main.js --config <node-config.json>\n');
    process.exit(2);
  }
  const cfg = loadNodeConfig(file);
  const log = (line: string): void => {
    process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  };
  const agent = new NodeAgent(cfg, log);
  let stopping: Promise<void> | undefined;
  const running: { server?: { close(): Promise<void> } } = {};
  const shutdown = (sig: string): void => {
    if (stopping) return;
    log(`node ${cfg.name} received ${sig}: stopping pods`);
    stopping = (async () => {
      await running.server?.close().catch(() => undefined);
      await agent.stop();
      log(`node ${cfg.name} stopped`);
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (err) => log(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
  await agent.start();
  running.server = await startKubelet(cfg, agent, log);
  process.stdout.write(`node ${cfg.name} ready\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`node agent failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
