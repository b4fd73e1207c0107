#!/usr/bin/env node
// Entry point of the ambit-cni binary (the host's <binDir>/ambit-cni wrapper execs Node on this file): reads the
// network config from stdin, runs the command from CNI_COMMAND, prints the result or the CNI error, exits 0 or 1.
import { runCni } from './plugin.js';

const chunks: Buffer[] = [];
process.stdin.on('data', (c: Buffer) => chunks.push(c));
process.stdin.on('end', () => {
  runCni(process.env, Buffer.concat(chunks).toString('utf8')).then(
    ({ stdout, code }) => {
      process.stdout.write(stdout, () => process.exit(code));
    },
    (e) => {
      process.stdout.write(JSON.stringify({ cniVersion: '1.0.0', code: 999, msg: `ambit-cni: ${(e as Error).message}`, details: '' }) + '\n', () => process.exit(1));
    },
  );
});
