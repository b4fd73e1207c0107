#!/usr/bin/env node
// The `ambit` binary.
import { runCli } from './run.js';

const code = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
});
process.exitCode = code;
