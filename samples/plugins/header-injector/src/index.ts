// An example third-party waypoint plugin, written only against the public SDK.
//
// pluginConfig:
//   request:  { set?: {name: value}, add?: {name: value}, remove?: [name] }
//   response: { set?: {name: value}, add?: {name: value}, remove?: [name] }
//   identityHeader?: string   # if set, the caller's SPIFFE ID is passed upstream in this header
//
// Deploy it with a WaypointPlugin (see README.md).

import { inject, injectable, LOGGER, METRICS, type Counter, type Logger, type MetricsRegistry, type Plugin, type RequestContext } from '@ambit/plugin-sdk';

export interface HeaderOps {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

export interface HeaderInjectorConfig {
  request?: HeaderOps;
  response?: HeaderOps;
  identityHeader?: string;
}

function isOps(v: unknown): v is HeaderOps {
  return v === undefined || (typeof v === 'object' && v !== null);
}

@injectable()
export class HeaderInjector implements Plugin {
  readonly name = 'header-injector';
  readonly phase = 'UNSPECIFIED_PHASE' as const;
  readonly priority = 0;
  readonly #applied: Counter;

  constructor(
    @inject(LOGGER) private readonly logger: Logger,
    @inject(METRICS) metrics: MetricsRegistry,
  ) {
    this.#applied = metrics.counter({ name: 'header_injector_requests_total', help: 'Requests whose headers the header-injector changed', labelNames: ['destination_service'] });
  }

  onRequest(ctx: RequestContext): void {
    const cfg = (ctx.config ?? {}) as HeaderInjectorConfig;
    if (!isOps(cfg.request) || !isOps(cfg.response)) {
      this.logger.warn('invalid pluginConfig: request/response must be objects');
      return;
    }
    for (const [k, v] of Object.entries(cfg.request?.set ?? {})) ctx.setRequestHeader(k, String(v));
    for (const [k, v] of Object.entries(cfg.request?.add ?? {})) ctx.addRequestHeader(k, String(v));
    for (const k of cfg.request?.remove ?? []) ctx.removeRequestHeader(k);
    if (cfg.identityHeader) {
      if (ctx.source.principal) ctx.setRequestHeader(cfg.identityHeader, ctx.source.principal);
      else ctx.removeRequestHeader(cfg.identityHeader); // never trust a client-supplied identity header
    }
    // Response changes recorded now are applied when the response arrives.
    for (const [k, v] of Object.entries(cfg.response?.set ?? {})) ctx.setResponseHeader(k, String(v));
    for (const [k, v] of Object.entries(cfg.response?.add ?? {})) ctx.addResponseHeader(k, String(v));
    for (const k of cfg.response?.remove ?? []) ctx.removeResponseHeader(k);
    this.#applied.inc({ destination_service: ctx.destination.service?.hostname });
  }
}

export default HeaderInjector;
