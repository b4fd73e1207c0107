// ztunnel benchmark: two ztunnels with mTLS HBONE between them vs the direct path, in the same run, in two
// configurations: explicit mode (separate processes on loopback) and shared mode (in-pod, as the DaemonSet runs
// it: pods handed over ZDS, traffic captured in the pod netns). Prints each configuration's figures next to its
// direct path, then both side by side. Never fails on a number.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsr, createRootCA, signCsr } from '@ambit/mesh-api';
import { runExplicit } from './explicit.js';
import { printFigures, printSideBySide, type Figures } from './measure.js';
import { clientNodeImportKb, runShared, sharedModeUnavailable } from './shared.js';

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-zt-bench-'));
  try {
    const ca = createRootCA({ commonName: 'bench' });
    // A server certificate for the two-process TLS pipe baseline (0600 files).
    const leafIdentity = 'spiffe://cluster.local/ns/bench/sa/server';
    const { csrPem, keyPem } = createCsr(leafIdentity);
    const [leaf] = signCsr(ca, csrPem, { identity: leafIdentity });
    writeFileSync(join(dir, 'leaf.pem'), leaf!, { mode: 0o600 });
    writeFileSync(join(dir, 'leaf.key'), keyPem, { mode: 0o600 });
    const certs = [join(dir, 'leaf.pem'), join(dir, 'leaf.key')];

    console.log(`ztunnel-runtime bench: two ztunnels (mTLS HBONE) vs direct, node ${process.version}`);
    let explicit: Figures | string;
    try {
      console.log(`\n== explicit mode (two processes, loopback addresses)`);
      explicit = await runExplicit(dir, ca, certs);
      printFigures(explicit);
    } catch (e) {
      explicit = `explicit mode did not complete: ${(e as Error).message}`;
      console.log(`  ${explicit}`);
    }

    let shared: Figures | string;
    const why = sharedModeUnavailable();
    if (why) {
      shared = why;
      console.log(`\n${why}`);
    } else {
      try {
        console.log(`\n== shared mode (in-pod, as the DaemonSet runs it: pods over ZDS, captured in their netns)`);
        shared = await runShared(dir, ca, certs);
        printFigures(shared);
      } catch (e) {
        shared = `shared mode did not complete: ${(e as Error).message}`;
        console.log(`  ${shared}`);
      }
    }

    printSideBySide(explicit, shared);
    // Shared mode takes pods over ZDS and needs no Kubernetes API: @kubernetes/client-node is loaded only by the
    // node agent (test/zds-main.test.ts checks the shared-mode ztunnel never resolves it). Its price, for scale:
    const kn = clientNodeImportKb();
    console.log(
      typeof kn === 'number'
        ? `  @kubernetes/client-node: not loaded by the shared-mode ztunnel (no Kubernetes watches; pods come over ZDS); importing it alone adds ${(kn / 1024).toFixed(1)} MB of RSS (node -e)`
        : `  @kubernetes/client-node: ${kn}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.log(`ztunnel-runtime bench did not complete: ${(e as Error).message}`);
    process.exit(0);
  },
);
