#!/usr/bin/env node
// The controller process (istiod's role): the waypoint Gateway controller, the CA, the config push and the mesh
// model, assembled in control-plane.ts. Leader-elected reconcilers, Prometheus metrics and health on the monitoring
// port, structured logs on stderr.
//
//   node controller/dist/src/main.js [--kubeconfig FILE] [--monitoring-port 15014] [--no-leader-elect]
//
// Environment: see config.ts (POD_NAME, POD_NAMESPACE, CLUSTER_DOMAIN, AMBIT_LOG_LEVEL, AMBIT_WAYPOINT_IMAGE,
// AMBIT_MONITORING_PORT, AMBIT_CA_PORT, TRUST_DOMAIN, CA_TRUSTED_NODE_ACCOUNTS, DEFAULT_WORKLOAD_CERT_TTL,
// MAX_WORKLOAD_CERT_TTL, AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY).
import { pathToFileURL } from 'node:url';
import { ConfigError } from './config.js';
import { runController, type ControllerOptions } from './control-plane.js';
import { logger } from '@ambit/mesh-api';

export { runController, type ControllerOptions, type RunningController } from './control-plane.js';

export function parseArgs(argv: string[]): ControllerOptions {
  const o: ControllerOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const eq = a.indexOf('=');
      return eq > 0 ? a.slice(eq + 1) : argv[++i];
    };
    if (a.startsWith('--kubeconfig')) o.kubeconfig = val();
    else if (a.startsWith('--monitoring-port')) o.monitoringPort = Number(val());
    else if (a === '--no-leader-elect') o.leaderElect = false;
    else if (a.startsWith('--leader-elect')) o.leaderElect = a.includes('=') ? val() !== 'false' : true;
    else if (a.startsWith('--identity')) o.identity = val();
    else if (a.startsWith('--namespace')) o.systemNamespace = val();
    else if (a.startsWith('--lease-duration')) o.leaseDurationSeconds = Number(val());
    else if (a === '--no-components') o.waypointsOnly = true; // only the waypoint controller (tests, benchmarks)
    else if (a === 'discovery' || a === '--') continue; // istiod-style `pilot-discovery discovery`
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: main.js [--kubeconfig FILE] [--monitoring-port N] [--no-leader-elect] [--identity ID] [--namespace NS] [--lease-duration SECONDS] [--no-components]\n');
      process.exit(0);
    }
  }
  return o;
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const log = logger('ambit');
  runController({ ...parseArgs(process.argv.slice(2)), log })
    .then((ctl) => {
      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) return;
        stopping = true;
        log.info('shutting down', { signal: sig });
        ctl.stop().finally(() => process.exit(0));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    })
    .catch((err) => {
      if (err instanceof ConfigError) process.stderr.write(`Error: ${err.message}\n`);
      else log.error('controller failed to start', { err });
      process.exit(1);
    });
}
