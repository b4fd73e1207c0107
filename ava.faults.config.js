// The fault suite (`npm run test:faults`, and the last phase of `npm test`): controller killed during a push, API
// server restarted, CA down across a renewal, ztunnel restarted under a long-lived connection, waypoint rolled
// during load, node agent restarted. Root; runs against the shared local cluster (AMBIT_KUBECONFIG), one file at a
// time, after everything else has used it: the faults disturb the whole cluster.
export default {
  files: ['test/e2e/dist/test/faults/**/*.test.js'],
  nodeArguments: ['--enable-source-maps'],
  concurrency: 1,
  serial: true,
  timeout: '10m',
};
