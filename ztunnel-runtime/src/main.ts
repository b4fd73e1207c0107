#!/usr/bin/env node
// ztunnel entrypoint. Explicit mode: `node dist/src/main.js --config ztunnel.yaml` (or ZTUNNEL_CONFIG), with the
// mesh model from LOCAL_XDS_PATH / LOCAL_XDS / `localXdsPath`. In-pod mode is wired by the in-pod module.
import { loadZtunnelConfig } from './config/config.js';
import { logger } from './log.js';
import { Ztunnel } from './ztunnel.js';

const log = logger('ztunnel');

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

async function main(): Promise<void> {
  const config = loadZtunnelConfig(argValue('--config') ?? process.env.ZTUNNEL_CONFIG);
  log.info(`running with config: ${JSON.stringify({ ...config, localXds: config.localXds ? '<inline>' : undefined })}`);
  if (config.mode !== 'explicit') throw new Error(`mode ${config.mode} is not available in this entrypoint yet`);
  const zt = new Ztunnel(config);
  const ports = await zt.start();
  log.info('ready', `ports=${JSON.stringify(ports)} workloads=${zt.store.workloads.size} policies=${zt.store.policies.size}`);
  // For parent processes (bench, tests) that need the ports.
  if (process.send) process.send({ ready: true, ports });
  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`received ${sig}, draining`);
    await zt.drain();
    await zt.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((e) => {
  log.error(`fatal: ${(e as Error).message}`);
  process.exit(1);
});
