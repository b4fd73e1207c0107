// `ambit dashboard`: checks the flags, picks how Prometheus is reached (a URL, or the API server's service proxy to
// istio-system/prometheus:9090), serves the page on loopback, prints its URL and, if asked, opens a browser.
import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { KubeClient } from '../kube/client.js';
import { CliError } from './waypoint.js';
import { PrometheusError, serviceProxyPath, serviceProxyTransport, urlTransport, type PrometheusTransport } from '../dashboard/prometheus.js';
import { WINDOW } from '../dashboard/queries.js';
import { startDashboardServer, type DashboardServer } from '../dashboard/server.js';
import { takeSnapshot } from '../dashboard/snapshot.js';
import { screenshot } from '../dashboard/chromium.js';

export interface DashboardFlags {
  port: string;
  address: string;
  prometheusUrl?: string;
  window: string;
  maxEdges: string;
  browser: boolean;
  /** Save a PNG of the page (headless Chromium) and stop instead of serving until interrupted. */
  screenshot?: string;
  istioNamespace: string;
}

export interface DashboardIO {
  out(s: string): void;
  /** The cluster client, made only when Prometheus is reached through the API server. */
  client: () => KubeClient | Promise<KubeClient>;
  /** Resolves when the command should stop (SIGINT/SIGTERM); tests pass their own. */
  stopped?: Promise<void>;
  /** Test seam: called with the server once it listens. */
  onListening?: (s: DashboardServer) => void;
}

const isLoopback = (a: string) => a === 'localhost' || a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));

export async function runDashboard(f: DashboardFlags, io: DashboardIO): Promise<void> {
  const port = Number(f.port);
  if (!/^\d+$/.test(f.port) || port > 65535) throw new CliError(`--port "${f.port}" is not a port number (0-65535; 0 picks a free one)`);
  if (!isLoopback(f.address))
    throw new CliError(`--address "${f.address}" is not a loopback address: the dashboard shows the mesh's traffic without authentication, so it listens on 127.0.0.1, ::1 or localhost only (reach it from elsewhere with an SSH tunnel)`);
  if (!WINDOW.test(f.window)) throw new CliError(`--window "${f.window}" is not a Prometheus duration (e.g. 30s, 1m, 5m)`);
  const maxEdges = Number(f.maxEdges);
  if (!/^\d+$/.test(f.maxEdges) || maxEdges < 1 || maxEdges > 2000) throw new CliError(`--max-edges "${f.maxEdges}" must be a whole number from 1 to 2000`);

  let transport: PrometheusTransport;
  let where: string;
  if (f.prometheusUrl) {
    try {
      transport = urlTransport(f.prometheusUrl);
    } catch (err) {
      throw new CliError(err instanceof PrometheusError ? err.message : String(err));
    }
    where = f.prometheusUrl;
  } else {
    const client = await io.client();
    transport = serviceProxyTransport(client, f.istioNamespace, 'prometheus', 9090);
    where = `${f.istioNamespace}/prometheus:9090 via ${client.access.server}${serviceProxyPath(f.istioNamespace, 'prometheus', 9090)}/`;
  }

  const server = await startDashboardServer({
    address: f.address === 'localhost' ? '127.0.0.1' : f.address,
    port,
    snapshot: () => takeSnapshot({ transport, prometheus: where, window: f.window, maxEdges }),
  }).catch((err: NodeJS.ErrnoException) => {
    throw new CliError(err.code === 'EADDRINUSE' ? `port ${port} on ${f.address} is in use: pick another with --port` : `cannot listen on ${f.address}:${port}: ${err.message}`);
  });
  if (f.screenshot) {
    let drawn = 'the page';
    try {
      // The window fits the drawn graph (its layout's size), so nothing is cut off.
      const api = (await (await fetch(`${server.url}api/graph`)).json().catch(() => ({}))) as {
        state?: string;
        graph?: { nodes?: unknown[]; edges?: unknown[]; layout?: { width?: number; height?: number } };
      };
      drawn = api.state === 'ok' ? `the graph (${api.graph?.nodes?.length ?? 0} nodes, ${api.graph?.edges?.length ?? 0} edges)` : `the page (${api.state ?? 'no answer'})`;
      const fit = (n: number | undefined, pad: number, min: number, max: number) => Math.min(max, Math.max(min, Math.ceil((n ?? 0) + pad)));
      await mkdir(dirname(resolve(f.screenshot)), { recursive: true });
      await screenshot(server.url, resolve(f.screenshot), fit(api.graph?.layout?.width, 60, 1000, 4000), fit(api.graph?.layout?.height, 130, 600, 3000));
    } catch (err) {
      throw new CliError(`--screenshot ${f.screenshot}: ${(err as Error).message.split('\n')[0]}`);
    } finally {
      await server.close();
    }
    io.out(`ambit dashboard: ${drawn} from ${where} saved to ${resolve(f.screenshot)}\n`);
    return;
  }
  io.out(`ambit dashboard: ${server.url} (Prometheus: ${where}; Ctrl-C to stop)\n`);
  io.onListening?.(server);
  if (f.browser) openBrowser(server.url, io.out);
  const stopped =
    io.stopped ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  await stopped;
  await server.close();
}

/** The desktop's browser (xdg-open, open), as istioctl dashboard does; a headless machine just keeps the printed URL. */
function openBrowser(url: string, out: (s: string) => void): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => out(`(could not start a browser with ${cmd}: open ${url} yourself)\n`));
    child.unref();
  } catch {
    out(`(could not start a browser: open ${url} yourself)\n`);
  }
}
