// The per-request context every plugin hook receives. One object per request, created by the runtime (or the
// test kit) and passed through the chain in order. Fields a plugin may change are plain properties or methods
// below; everything else is read-only by contract.

import type { Endpoint, ServiceView, WorkloadView } from './mesh.js';

export type HeaderValue = string | string[];
export type Headers = Record<string, HeaderValue | undefined>;

/** Who sent the request: the client workload as the waypoint sees it (not the ztunnel). */
export interface SourceInfo {
  /** SPIFFE ID from the peer certificate (`spiffe://td/ns/x/sa/y`), undefined without mTLS. */
  principal?: string;
  namespace?: string;
  serviceAccount?: string;
  /** Client IP and port (the workload's, as carried by HBONE). */
  address: string;
  port: number;
  /**
   * The original client IP (`remoteIpBlocks`, `remote.ip`): `address`, unless the runtime trusts some hops of
   * `X-Forwarded-For` (Istio's `numTrustedProxies`, default 0); see {@link trustedClientAddress}.
   */
  remoteAddress?: string;
  /** The source workload, when the mesh state knows its IP. */
  workload?: WorkloadView;
}

/** Where the request was going. */
export interface DestinationInfo {
  /** The original destination: the HBONE CONNECT authority, `ip:port` (a service VIP or a pod IP). */
  originalAuthority: string;
  address: string;
  port: number;
  /** The destination service, if the authority is a service VIP (or the Host header names one). */
  service?: { hostname: string; namespace: string; name: string; port: number; view?: ServiceView };
  /** The destination workload, if the authority is a pod IP. */
  workload?: WorkloadView;
  /**
   * The Services the destination workload is an endpoint of (pod-IP destinations only): policies that target one
   * of them apply to the pod IP too, so addressing a pod directly cannot skip its Service's policies.
   */
  workloadServices?: Array<{ hostname: string; namespace: string; name: string }>;
}

export interface RequestInfo {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The raw query string without `?` (empty when none). */
  rawQuery: string;
  /** Decoded query parameters (first value wins for repeated keys, all values in `queryAll`). */
  query: Record<string, string>;
  /** Lower-case header names. Mutate through the context methods so the chain sees one view. */
  headers: Headers;
  /** `:authority` / Host of the HTTP request. */
  authority: string;
  scheme: 'http' | 'https';
  protocol: 'HTTP/1.1' | 'HTTP/2' | 'HTTP/1.0';
}

/**
 * The ingress listener a request arrived on (ingress gateways only; absent on a waypoint): picked by the runtime
 * from the port, the TLS SNI and the Host. Routing applies only the routes the controller accepted on it.
 */
export interface IngressInfo {
  /** The listener's name (Gateway API listener name, or `<ns>/<gateway>/<server index>` for an Istio Gateway). */
  listener: string;
  /** The port clients addressed (the gateway Service's port). */
  port: number;
  /** The listener's hostnames (absent: any). */
  hostnames?: readonly string[];
  /** `resourceKey`s (`Kind.group/ns/name`) of the routes accepted on the listener. */
  routes: readonly string[];
  /** The SNI the client sent (HTTPS listeners). */
  sni?: string;
}

/** The service (or explicit address) a request goes to. */
export interface Backend {
  /** Kubernetes Service the request is routed to; the runtime picks an endpoint of it if none is chosen. */
  service?: { hostname: string; namespace: string; name: string; port: number };
  /** Subset labels (DestinationRule subsets): only endpoints whose workload labels match. */
  subset?: Record<string, string>;
  /** A concrete endpoint already chosen (by the router's load balancer or a plugin). */
  endpoint?: Endpoint;
  /** Candidate endpoints for retries (tried after `endpoint`). */
  alternatives?: Endpoint[];
}

export interface RetryPolicy {
  attempts: number;
  perTryTimeoutMs?: number;
  /** Envoy retry_on words: 5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream, retriable-status-codes. */
  retryOn: string[];
  retriableStatusCodes?: number[];
}

/** The route chosen for a request: its backend and the route-level policies the runtime enforces. */
export interface Route {
  /** For logs and metrics: `ns/name` of the route resource, or `default`. */
  name: string;
  backend: Backend;
  /** Whole-request timeout. */
  timeoutMs?: number;
  retries?: RetryPolicy;
  /** Copies of the request sent fire-and-forget; `percent` defaults to 100. */
  mirrors?: Array<{ backend: Backend; percent?: number }>;
  /** Path/host rewrite to apply upstream. */
  rewrite?: { path?: string; authority?: string };
}

export interface ResponseInfo {
  status: number;
  headers: Headers;
  /** Bytes of the response body sent, known in onLog. */
  bytes?: number;
}

export interface LocalReply {
  status: number;
  body: string;
  headers: Record<string, string>;
  /** Which plugin produced it, for logs (`RBAC`, `fault`, ...). */
  by?: string;
  /** Envoy's response flag for metrics/logs: UAEX, FI, UF, URX, UT ... (none, "-", for an RBAC denial, as Envoy). */
  flag?: string;
}

type HeaderOp = { op: 'set' | 'add' | 'remove'; name: string; value?: string };

let counter = 0;

export interface RequestContextInit {
  id?: string;
  source: SourceInfo;
  destination: DestinationInfo;
  request: RequestInfo;
  startTime?: number;
  ingress?: IngressInfo;
}

/**
 * The request context. Plugins read `source`, `destination`, `request`, `config`, and act through
 * `deny`, `redirect`, `setRequestHeader`, `removeRequestHeader`, `setResponseHeader`, `addResponseHeader`,
 * `removeResponseHeader`, and by setting `route` (or `setBackend`).
 */
export class RequestContext {
  /** The request id (`x-request-id`, generated when missing by the telemetry plugin or the runtime). */
  id: string;
  readonly source: SourceInfo;
  readonly destination: DestinationInfo;
  readonly request: RequestInfo;
  /** Epoch milliseconds at which the request arrived. */
  readonly startTime: number;
  /** Set on an ingress gateway: the listener the request arrived on (see {@link IngressInfo}). */
  ingress?: IngressInfo;
  /** The chosen route; undefined means "the destination service itself". */
  route?: Route;
  /** The config of the plugin being invoked (set by the chain before each hook). */
  config: unknown = undefined;
  /** Set once the upstream (or local) response is known: in onResponse and onLog. */
  response?: ResponseInfo;
  /** A reply generated by the waypoint instead of forwarding (deny, redirect, fault abort). */
  localReply?: LocalReply;
  /** Request body bytes received, known in onLog. */
  requestBytes = 0;
  /** Envoy-like response flags (`-` when none): UF upstream failure, UT timeout, DC downstream reset, ... */
  responseFlags = '-';
  /** Free per-request storage for plugins; key by your plugin name. */
  readonly state = new Map<string | symbol, unknown>();
  /** Response header operations recorded before a response exists; the runtime applies them. */
  readonly responseHeaderOps: HeaderOp[] = [];

  constructor(init: RequestContextInit) {
    this.id = init.id ?? `${process.pid.toString(36)}-${(++counter).toString(36)}`;
    this.source = init.source;
    this.destination = init.destination;
    this.request = init.request;
    this.startTime = init.startTime ?? Date.now();
    if (init.ingress) this.ingress = init.ingress;
  }

  /** True once a plugin denied or redirected: later onRequest hooks are skipped. */
  get stopped(): boolean {
    return this.localReply !== undefined;
  }

  /** Reply locally with `status` and `body` (for example 403 `RBAC: access denied`). */
  deny(status: number, body = '', headers: Record<string, string> = {}, by?: string): void {
    this.localReply = { status, body, headers: { 'content-type': 'text/plain', ...headers }, by };
  }

  /** Reply locally with a redirect. */
  redirect(location: string, status = 302): void {
    this.localReply = { status, body: '', headers: { location }, by: 'redirect' };
  }

  setRequestHeader(name: string, value: string): void {
    this.request.headers[name.toLowerCase()] = value;
  }

  addRequestHeader(name: string, value: string): void {
    const key = name.toLowerCase();
    const cur = this.request.headers[key];
    if (cur === undefined) this.request.headers[key] = value;
    else this.request.headers[key] = Array.isArray(cur) ? [...cur, value] : [cur, value];
  }

  removeRequestHeader(name: string): void {
    delete this.request.headers[name.toLowerCase()];
  }

  /** First value of a request header. */
  header(name: string): string | undefined {
    const v = this.request.headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  }

  setResponseHeader(name: string, value: string): void {
    this.#responseOp({ op: 'set', name: name.toLowerCase(), value });
  }

  addResponseHeader(name: string, value: string): void {
    this.#responseOp({ op: 'add', name: name.toLowerCase(), value });
  }

  removeResponseHeader(name: string): void {
    this.#responseOp({ op: 'remove', name: name.toLowerCase() });
  }

  /** Choose the backend (keeps the rest of the current route). */
  setBackend(backend: Backend): void {
    this.route = { ...(this.route ?? { name: 'plugin' }), backend };
  }

  /** Apply the recorded response header operations to `headers` (the runtime calls this once). */
  applyResponseHeaderOps(headers: Headers): void {
    for (const o of this.responseHeaderOps) applyHeaderOp(headers, o);
    this.responseHeaderOps.length = 0;
  }

  #responseOp(o: HeaderOp): void {
    if (this.response) applyHeaderOp(this.response.headers, o);
    else this.responseHeaderOps.push(o);
  }
}

function applyHeaderOp(headers: Headers, o: HeaderOp): void {
  if (o.op === 'remove') {
    delete headers[o.name];
  } else if (o.op === 'set') {
    headers[o.name] = o.value!;
  } else {
    const cur = headers[o.name];
    headers[o.name] = cur === undefined ? o.value! : Array.isArray(cur) ? [...cur, o.value!] : [cur, o.value!];
  }
}

/** Parse `spiffe://td/ns/<ns>/sa/<sa>` into its parts. */
export function parseSpiffe(id: string | undefined): { trustDomain: string; namespace: string; serviceAccount: string } | undefined {
  if (!id) return undefined;
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id);
  return m ? { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! } : undefined;
}
