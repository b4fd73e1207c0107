// The checks of the OCI archives `npm run images` writes (test/e2e/test/images): they need AMBIT_IMAGES_DIR, the
// directory that command prints last, and root (one check chroots into the Node base), so no other phase runs them.
export default {
  files: ['test/e2e/dist/test/images/**/*.test.js'],
  nodeArguments: ['--enable-source-maps'],
  timeout: '5m',
};
