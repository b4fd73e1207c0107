// What crosses the boundary between the waypoint and a sandboxed plugin's process: the messages, and the
// request context as a plain copy (out) and as the changes a hook made (back). Only what the request itself
// carries is sent; the mesh state, other plugins' config and the waypoint's credentials never are.

import { RequestContext, type Headers, type LocalReply, type ResponseInfo, type Route, type WaypointIdentity } from '@ambit/plugin-sdk';

export type HookName = 'onRequest' | 'onResponse' | 'onLog';

/** The request context as the plugin's process rebuilds it. */
export interface ContextSnapshot {
  id: string;
  source: RequestContext['source'];
  destination: RequestContext['destination'];
  request: RequestContext['request'];
  startTime: number;
  route?: Route;
  response?: ResponseInfo;
  localReply?: LocalReply;
  responseFlags: string;
  requestBytes: number;
  config: unknown;
}

export type HeaderOp = RequestContext['responseHeaderOps'][number];

/** What a hook changed. */
export interface ContextChanges {
  id: string;
  requestHeaders: Headers;
  route?: Route;
  localReply?: LocalReply;
  responseFlags: string;
  /** Response header operations recorded before the response existed. */
  responseHeaderOps: HeaderOp[];
  /** The response headers after the hook (when a response existed). */
  responseHeaders?: Headers;
}

export interface InitMessage {
  t: 'init';
  entry: string;
  export?: string;
  name: string;
  version: string;
  plugin: string;
  waypoint: WaypointIdentity;
}

export type ToChild = InitMessage | { t: 'call'; id: number; hook: HookName; ctx: ContextSnapshot } | { t: 'ping'; id: number };

export type FromChild =
  | { t: 'ready'; hooks: HookName[]; name?: string; phase?: string; priority?: number }
  | { t: 'failed'; reason: 'ImportFailed' | 'NoPluginExport'; message: string }
  | { t: 'result'; id: number; ok: true; changes: ContextChanges }
  | { t: 'result'; id: number; ok: false; error: string }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, string | number | boolean | null | undefined> }
  | { t: 'pong'; id: number };

export function snapshot(ctx: RequestContext): ContextSnapshot {
  return {
    id: ctx.id,
    source: ctx.source,
    destination: ctx.destination,
    request: ctx.request,
    startTime: ctx.startTime,
    route: ctx.route,
    response: ctx.response,
    localReply: ctx.localReply,
    responseFlags: ctx.responseFlags,
    requestBytes: ctx.requestBytes,
    config: ctx.config,
  };
}

/** The other side of `snapshot`: a fresh context carrying what the snapshot holds (state is the caller's). */
export function contextFrom(s: ContextSnapshot): RequestContext {
  const ctx = new RequestContext({ id: s.id, source: s.source, destination: s.destination, request: s.request, startTime: s.startTime });
  ctx.route = s.route;
  ctx.response = s.response;
  ctx.localReply = s.localReply;
  ctx.responseFlags = s.responseFlags;
  ctx.requestBytes = s.requestBytes;
  ctx.config = s.config;
  return ctx;
}

export function changesOf(ctx: RequestContext): ContextChanges {
  return {
    id: ctx.id,
    requestHeaders: ctx.request.headers,
    route: ctx.route,
    localReply: ctx.localReply,
    responseFlags: ctx.responseFlags,
    responseHeaderOps: [...ctx.responseHeaderOps],
    responseHeaders: ctx.response?.headers,
  };
}

function replaceHeaders(target: Headers, from: Headers): void {
  for (const k of Object.keys(target)) if (!(k in from)) delete target[k];
  for (const [k, v] of Object.entries(from)) target[k] = v;
}

/** Apply a hook's changes to the waypoint's own context. */
export function applyChanges(ctx: RequestContext, c: ContextChanges): void {
  ctx.id = c.id;
  replaceHeaders(ctx.request.headers, c.requestHeaders);
  ctx.route = c.route;
  ctx.localReply = c.localReply;
  ctx.responseFlags = c.responseFlags;
  if (c.responseHeaders && ctx.response) replaceHeaders(ctx.response.headers, c.responseHeaders);
  for (const o of c.responseHeaderOps) {
    if (o.op === 'set') ctx.setResponseHeader(o.name, o.value ?? '');
    else if (o.op === 'add') ctx.addResponseHeader(o.name, o.value ?? '');
    else ctx.removeResponseHeader(o.name);
  }
}
