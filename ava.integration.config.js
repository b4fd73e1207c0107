// Integration and end-to-end tests: they need root and run against the shared local cluster that
// scripts/test.mjs brings up (AMBIT_KUBECONFIG), one file at a time.
export default {
  files: [
    '*/dist/test/integration/**/*.test.js',
    'plugins/*/dist/test/integration/**/*.test.js',
    'test/*/dist/test/integration/**/*.test.js',
  ],
  nodeArguments: ['--enable-source-maps'],
  concurrency: 1,
  serial: true,
  timeout: '10m',
};
