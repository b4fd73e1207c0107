import type { Backend, RequestContext, Route } from '@ambit/plugin-sdk';
import type { CorsHandler } from './cors.js';

/** A compiled route rule: a predicate and what to do with a matching request. */
export interface RouteEntry {
  /** `HTTPRoute/ns/name` or `VirtualService/ns/name`. */
  name: string;
  match(ctx: RequestContext): MatchResult | undefined;
  action: RouteAction;
}

export interface MatchResult {
  /** The prefix a path-prefix match matched (for prefix rewrites). */
  prefix?: string;
}

/** What a rule does: apply header ops, then reply locally or route to a weighted backend. */
export interface RouteAction {
  /** The rule's CORS filter: answers preflights, adds the access-control-* response headers. */
  cors?: CorsHandler;
  requestHeaders?: HeaderOps;
  responseHeaders?: HeaderOps;
  redirect?: (ctx: RequestContext, m: MatchResult) => { location: string; status: number };
  directResponse?: { status: number; body: string };
  fault?: { delayMs?: number; delayPercent?: number; abortStatus?: number; abortPercent?: number };
  backends: WeightedBackend[];
  rewrite?: (ctx: RequestContext, m: MatchResult) => Route['rewrite'];
  timeoutMs?: number;
  retries?: Route['retries'];
  mirrors?: Array<{ backend: Backend; percent?: number }>;
  /** When no backend is valid or none are listed: Gateway API answers 500. */
  emptyStatus?: number;
}

export interface WeightedBackend {
  backend?: Backend;
  /** Why the backend is unusable (then requests routed to it get 500). */
  invalid?: string;
  weight: number;
  requestHeaders?: HeaderOps;
  responseHeaders?: HeaderOps;
}

export interface HeaderOps {
  set?: Array<{ name: string; value: string }>;
  add?: Array<{ name: string; value: string }>;
  remove?: string[];
}

export function applyRequestOps(ctx: RequestContext, ops: HeaderOps | undefined): void {
  if (!ops) return;
  for (const { name, value } of ops.set ?? []) ctx.setRequestHeader(name, value);
  for (const { name, value } of ops.add ?? []) ctx.addRequestHeader(name, value);
  for (const name of ops.remove ?? []) ctx.removeRequestHeader(name);
}

export function applyResponseOps(ctx: RequestContext, ops: HeaderOps | undefined): void {
  if (!ops) return;
  for (const { name, value } of ops.set ?? []) ctx.setResponseHeader(name, value);
  for (const { name, value } of ops.add ?? []) ctx.addResponseHeader(name, value);
  for (const name of ops.remove ?? []) ctx.removeResponseHeader(name);
}

export function fromMap(m: Record<string, string> | undefined): Array<{ name: string; value: string }> | undefined {
  return m ? Object.entries(m).map(([name, value]) => ({ name, value: String(value) })) : undefined;
}

/** An RE2-style full match. */
export function fullRegex(re: string, flags = ''): RegExp {
  return new RegExp(`^(?:${re})$`, flags);
}
