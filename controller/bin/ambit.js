#!/usr/bin/env node
// The `ambit` command. A committed launcher, so npm links the bin at install time (before `tsc -b` has made
// dist/); it runs the compiled CLI.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('Error: the ambit CLI is not built yet: run `npm run build` in the repository first');
  process.exit(1);
}
await import(cli.href);
