// The HTTPRoute CORS filter (Gateway API HTTPCORSFilter, GEP-1767), compiled once per rule: a preflight (OPTIONS
// with Origin and Access-Control-Request-Method) is answered here, 200 with the access-control-* headers when the
// origin is allowed and without them when it is not (as Envoy's CORS filter that does not forward unmatched
// preflights); any other request with an allowed Origin goes on, its response carrying access-control-allow-origin
// (the Origin echoed), -allow-credentials and -expose-headers. An origin pattern's `*` host label matches any number
// of labels to its left; an absent port is the scheme's default.

import type { RequestContext } from '@ambit/plugin-sdk';

export interface HTTPCORSFilter {
  allowOrigins?: string[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  allowCredentials?: boolean;
  maxAge?: number;
}

/** Applies the filter to a request; true when it answered the request itself (a preflight). */
export type CorsHandler = (ctx: RequestContext) => boolean;

/** Gateway API's default `maxAge`, in seconds. */
const DEFAULT_MAX_AGE = 5;

interface Origin {
  scheme: string;
  host: string;
  port: number;
}

const defaultPort = (scheme: string): number => (scheme === 'https' ? 443 : 80);

/** `<scheme>://<host>[:<port>]`, lower-cased, with the scheme's default port; undefined when not of that form. */
export function parseOrigin(s: string): Origin | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(\[[^\]]*\]|[^/:?#]+)(?::(\d{1,5}))?\/?$/i.exec(s.trim());
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  return { scheme, host: m[2]!.toLowerCase(), port: m[3] !== undefined ? Number(m[3]) : defaultPort(scheme) };
}

/** Does an allowOrigins entry (`*`, or an origin whose host may start with `*`) admit `origin`? */
function originPattern(pattern: string): (o: Origin) => boolean {
  if (pattern === '*') return () => true;
  const p = parseOrigin(pattern);
  if (!p) return () => false;
  const suffix = p.host.slice(1);
  const host = p.host === '*' ? () => true : p.host.startsWith('*.') ? (h: string) => h.length > suffix.length && h.endsWith(suffix) : (h: string) => h === p.host;
  return (o) => o.scheme === p.scheme && o.port === p.port && host(o.host);
}

/** Compile a rule's CORS filter. */
export function compileCors(f: HTTPCORSFilter): CorsHandler {
  const patterns = (f.allowOrigins ?? []).map(originPattern);
  const anyOrigin = (f.allowOrigins ?? []).includes('*');
  const allowed = (origin: string): boolean => {
    if (anyOrigin) return true;
    const o = parseOrigin(origin);
    return o !== undefined && patterns.some((p) => p(o));
  };
  const credentials = f.allowCredentials === true;
  const methods = f.allowMethods ?? [];
  const headers = f.allowHeaders ?? [];
  const expose = f.exposeHeaders ?? [];
  // A `*` in allowMethods or allowHeaders answers with what the preflight asks for: a browser reads `*` literally
  // on a request with credentials, and the echo is as good without them. Exposed `*` only without credentials.
  const exposeValue = expose.includes('*') ? (credentials ? undefined : '*') : expose.length ? expose.join(', ') : undefined;
  const maxAge = String(f.maxAge ?? DEFAULT_MAX_AGE);
  return (ctx) => {
    const origin = ctx.header('origin');
    if (origin === undefined) return false;
    const requestMethod = ctx.header('access-control-request-method');
    const ok = allowed(origin);
    if (ctx.request.method === 'OPTIONS' && requestMethod !== undefined) {
      const h: Record<string, string> = {};
      if (ok) {
        h['access-control-allow-origin'] = origin;
        if (credentials) h['access-control-allow-credentials'] = 'true';
        const allowMethods = methods.includes('*') ? requestMethod : methods.join(', ');
        if (allowMethods) h['access-control-allow-methods'] = allowMethods;
        const requested = ctx.request.headers['access-control-request-headers'];
        const requestHeaders = Array.isArray(requested) ? requested.join(', ') : requested;
        const allowHeaders = headers.includes('*') ? requestHeaders : headers.join(', ');
        if (allowHeaders) h['access-control-allow-headers'] = allowHeaders;
        if (exposeValue) h['access-control-expose-headers'] = exposeValue;
        h['access-control-max-age'] = maxAge;
      }
      ctx.localReply = { status: 200, body: '', headers: h, by: 'cors' };
      return true;
    }
    if (!ok) return false;
    ctx.setResponseHeader('access-control-allow-origin', origin);
    if (credentials) ctx.setResponseHeader('access-control-allow-credentials', 'true');
    if (exposeValue) ctx.setResponseHeader('access-control-expose-headers', exposeValue);
    return false;
  };
}
