// Unit tests: no root, no cluster. Compiled by `tsc -b` into each package's dist/test.
export default {
  files: [
    '*/dist/test/**/*.test.js',
    'plugins/*/dist/test/**/*.test.js',
    'test/*/dist/test/**/*.test.js',
    'samples/plugins/*/dist/test/**/*.test.js',
    '!**/dist/test/integration/**',
    '!**/dist/test/system/**',
    '!**/dist/test/images/**',
    '!**/dist/test/faults/**',
  ],
  nodeArguments: ['--enable-source-maps'],
  timeout: '2m',
};
