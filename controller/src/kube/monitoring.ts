// istiod's monitoring port (15014) for the controller: /metrics, /healthz, /ready and extra GET routes
// (`/version`), on mesh-api's AdminServer.
import { AdminServer, type AdminHandler } from '@ambit/mesh-api';
import { registry, type Registry } from './metrics.js';

export interface MonitoringServerOptions {
  port: number;
  host?: string;
  registry?: Registry;
  /** /ready answers 200 once this returns true. */
  ready?: () => boolean;
  /** More GET paths (istiod's `/version`, `/debug/syncz`), each answered with what its function returns. */
  routes?: Record<string, () => MonitoringResponse>;
}

export interface MonitoringResponse {
  contentType: string;
  body: string;
}

/**
 * Serves /metrics (Prometheus text), /healthz and /ready, and `routes` (GET and HEAD; another method gets 404).
 * Leading slashes are collapsed, as Go's ServeMux does by redirect: istioctl asks istiod for `//version`.
 */
export function startMonitoringServer(opts: MonitoringServerOptions): Promise<AdminServer> {
  const reg = opts.registry ?? registry;
  const metrics: AdminHandler = async () => ({ contentType: 'text/plain; version=0.0.4', body: await reg.render() });
  const health = (path: string): AdminHandler => () => {
    const ok = path === '/healthz' || (opts.ready?.() ?? true);
    return { status: ok ? 200 : 503, contentType: 'text/plain', body: ok ? 'ok\n' : 'not ready\n' };
  };
  const routes: Record<string, AdminHandler | { methods: string[]; handler: AdminHandler }> = {
    '/metrics': metrics,
    '/stats/prometheus': metrics,
    '/healthz': health('/healthz'),
    '/healthz/ready': health('/healthz/ready'),
    '/ready': health('/ready'),
  };
  for (const [path, route] of Object.entries(opts.routes ?? {})) routes[path] = { methods: ['GET', 'HEAD'], handler: route };
  return AdminServer.listen({
    port: opts.port,
    host: opts.host,
    routes,
    normalizePath: (path) => path.replace(/^\/+/, '/'),
    notFound: { status: 404 },
    wrongMethod: 'not-found',
  });
}
