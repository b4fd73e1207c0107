// Headless Chromium (Debian's package) looking at a page: the DOM after the page's scripts ran, and a screenshot.
// `ambit dashboard --screenshot` and the tests that look at the page use it. Missing Chromium is an error telling
// how to install it.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function findChromium(): Promise<string> {
  for (const c of [process.env.CHROMIUM, 'chromium', 'chromium-browser', 'google-chrome']) {
    if (!c) continue;
    try {
      await run(c, ['--version'], { timeout: 20_000 });
      return c;
    } catch {
      /* next */
    }
  }
  throw new Error('Chromium is missing: apt-get install -y chromium (scripts/ensure-tools.sh installs it; CHROMIUM names another binary)');
}

async function chromium(args: string[]): Promise<string> {
  const bin = await findChromium();
  const profile = await mkdtemp(join(tmpdir(), 'ambit-chromium-'));
  try {
    const { stdout } = await run(
      bin,
      ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--hide-scrollbars', `--user-data-dir=${profile}`, '--virtual-time-budget=8000', ...args],
      { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 },
    );
    return stdout;
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

/** The page's DOM once its scripts ran (and its first fetches answered). */
export const dumpDom = (url: string): Promise<string> => chromium(['--dump-dom', url]);

/** A PNG of the page at the given window size. */
export async function screenshot(url: string, file: string, width: number, height: number): Promise<void> {
  await chromium([`--window-size=${width},${height}`, `--screenshot=${file}`, url]);
}
