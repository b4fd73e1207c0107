// The sample is its own package: its tests run with `npm test` here.
export default { files: ['dist/test/**/*.test.js'], nodeArguments: ['--enable-source-maps'] };
