// System tests manage a whole cluster of their own (up, down, leftovers), so they run alone, before the
// shared cluster exists.
export default {
  files: ['test/*/dist/test/system/**/*.test.js'],
  nodeArguments: ['--enable-source-maps'],
  concurrency: 1,
  serial: true,
  timeout: '15m',
};
