// Trace context on the wire, so a waypoint continues a trace the way Envoy does for Istio: W3C `traceparent` /
// `tracestate` and B3 (`x-b3-*` headers or the single `b3` header) read, checked, and written back consistently.
// Pure functions over a header map: no OpenTelemetry SDK here (it is loaded only when spans are exported).

import type { Headers } from '@ambit/plugin-sdk';

/** A trace context the request arrived with: the caller's span is the parent of the waypoint's. */
export interface ParentContext {
  /** 32 lower-case hex digits (a 64-bit B3 trace id is left-padded with zeros). */
  traceId: string;
  /** The trace id as B3 carried it (16 or 32 hex digits), so B3 headers keep its width. */
  b3TraceId?: string;
  /** 16 lower-case hex digits: the caller's span. */
  spanId: string;
  /** W3C `tracestate`, forwarded with the trace it belongs to. */
  tracestate?: string;
}

/** What the request's trace headers say. */
export interface IncomingTrace {
  parent?: ParentContext;
  /** A prior sampling decision (W3C flags, `x-b3-sampled`, the `b3` header's sampling state); absent: none. */
  sampled?: boolean;
  /** B3 debug (`x-b3-flags: 1`, `b3: ...-d`): sampled, and said so downstream. */
  debug: boolean;
  /** The request used the single `b3` header (it is rewritten in that form). */
  singleB3: boolean;
  /** Header groups present but malformed: never forwarded as they are. */
  malformed: Array<'w3c' | 'b3' | 'b3-single'>;
}

/** The waypoint's own span in the trace. */
export interface OutgoingTrace {
  traceId: string;
  b3TraceId: string;
  spanId: string;
  parentSpanId?: string;
  sampled: boolean;
  debug: boolean;
  tracestate?: string;
}

const HEX16 = /^[0-9a-f]{16}$/;
const HEX16_32 = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const ZERO = /^0+$/;
const W3C = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
export const B3_HEADERS = ['x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'] as const;

/** One header value; a header sent several times where one is allowed counts as malformed (null). */
function single(headers: Headers, name: string): string | undefined | null {
  const v = headers[name];
  if (Array.isArray(v)) return v.length === 1 ? v[0] : null;
  return v;
}

/** W3C Trace Context level 1: version 00 is exactly 55 characters; a later version may append `-...` fields. */
function parseTraceparent(v: string): { traceId: string; spanId: string; sampled: boolean } | undefined {
  const m = W3C.exec(v);
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (ZERO.test(traceId) || ZERO.test(spanId)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

function samplingState(v: string | undefined): { sampled?: boolean; debug: boolean } | undefined {
  if (v === undefined) return { debug: false };
  if (v === '1' || v === 'true') return { sampled: true, debug: false };
  if (v === '0' || v === 'false') return { sampled: false, debug: false };
  if (v === 'd') return { sampled: true, debug: true };
  return undefined;
}

const pad32 = (id: string): string => (id.length === 32 ? id : '0'.repeat(16) + id);

/** B3 multi-header form. `undefined` when no B3 header is present; `null` when malformed. */
function parseB3Multi(h: Headers): Omit<IncomingTrace, 'singleB3' | 'malformed'> | undefined | null {
  const v = B3_HEADERS.map((n) => single(h, n));
  if (v.every((x) => x === undefined)) return undefined;
  if (v.some((x) => x === null)) return null;
  const [traceId, spanId, parentSpanId, sampledRaw, flags] = v.map((x) => (x === undefined || x === null ? undefined : x.trim().toLowerCase()));
  if (flags !== undefined && flags !== '0' && flags !== '1') return null;
  const s = samplingState(sampledRaw);
  if (!s || s.debug) return null; // `d` belongs to the single header
  const debug = flags === '1';
  const sampled = debug ? true : s.sampled;
  if (traceId === undefined && spanId === undefined) {
    if (parentSpanId !== undefined) return null;
    return { sampled, debug }; // a sampling decision alone
  }
  if (!traceId || !spanId || !HEX16_32.test(traceId) || !HEX16.test(spanId) || ZERO.test(traceId) || ZERO.test(spanId)) return null;
  if (parentSpanId !== undefined && !HEX16.test(parentSpanId)) return null;
  return { parent: { traceId: pad32(traceId), b3TraceId: traceId, spanId }, sampled, debug };
}

/** B3 single header: `{trace}-{span}[-{sampling}[-{parent}]]`, or a sampling state alone (`0`, `1`, `d`). */
function parseB3Single(v: string): Omit<IncomingTrace, 'singleB3' | 'malformed'> | undefined {
  const parts = v.trim().toLowerCase().split('-');
  if (parts.length === 1) {
    const s = samplingState(parts[0]);
    return s && parts[0] !== 'true' && parts[0] !== 'false' ? { sampled: s.sampled, debug: s.debug } : undefined;
  }
  if (parts.length > 4) return undefined;
  const [traceId, spanId, sampling, parentSpanId] = parts as [string, string, string | undefined, string | undefined];
  if (!HEX16_32.test(traceId) || !HEX16.test(spanId) || ZERO.test(traceId) || ZERO.test(spanId)) return undefined;
  const s = sampling === undefined ? { debug: false } : samplingState(sampling);
  if (!s || sampling === 'true' || sampling === 'false') return undefined;
  if (parentSpanId !== undefined && !HEX16.test(parentSpanId)) return undefined;
  return { parent: { traceId: pad32(traceId), b3TraceId: traceId, spanId }, sampled: s.sampled, debug: s.debug };
}

/**
 * The request's trace context. W3C wins when both are valid (the B3 headers are then rewritten to match); B3 is
 * used when `traceparent` is absent or malformed. Malformed groups are listed, whatever is used.
 */
export function readTrace(h: Headers): IncomingTrace {
  const out: IncomingTrace = { debug: false, singleB3: false, malformed: [] };
  const tp = single(h, 'traceparent');
  const w3c = typeof tp === 'string' ? parseTraceparent(tp) : undefined;
  if (tp !== undefined && !w3c) out.malformed.push('w3c');

  const multi = parseB3Multi(h);
  if (multi === null) out.malformed.push('b3');
  const b3h = single(h, 'b3');
  const one = typeof b3h === 'string' ? parseB3Single(b3h) : undefined;
  if (b3h !== undefined) {
    out.singleB3 = true;
    if (!one) out.malformed.push('b3-single');
  }
  const b3 = one ?? multi ?? undefined;
  if (b3) {
    out.debug = b3.debug;
    if (b3.sampled !== undefined) out.sampled = b3.sampled;
    if (b3.parent) out.parent = b3.parent;
  }
  if (w3c) {
    const ts = single(h, 'tracestate');
    out.parent = { traceId: w3c.traceId, spanId: w3c.spanId, ...(typeof ts === 'string' && ts ? { tracestate: ts } : {}) };
    out.sampled = out.debug || w3c.sampled;
    if (b3?.parent && b3.parent.traceId === w3c.traceId) out.parent.b3TraceId = b3.parent.b3TraceId;
  }
  return out;
}

/** Tracing off: valid context passes through untouched; a malformed group is removed, never forwarded. */
export function dropMalformed(h: Headers, incoming: IncomingTrace): void {
  for (const group of incoming.malformed) {
    if (group === 'w3c') {
      delete h.traceparent;
      delete h.tracestate;
    } else if (group === 'b3') for (const n of B3_HEADERS) delete h[n];
    else delete h.b3;
  }
}

/**
 * The waypoint's span: the caller's trace id with a new span id whose parent is the caller's span, or a new trace.
 * `sample` decides when the request carries no prior decision.
 */
export function continueTrace(incoming: IncomingTrace, ids: { traceId: () => string; spanId: () => string }, sample: () => boolean): OutgoingTrace {
  const p = incoming.parent;
  const sampled = incoming.debug || (incoming.sampled ?? sample());
  const traceId = p?.traceId ?? ids.traceId();
  return {
    traceId,
    b3TraceId: p?.b3TraceId ?? traceId,
    spanId: ids.spanId(),
    ...(p ? { parentSpanId: p.spanId } : {}),
    sampled,
    debug: incoming.debug,
    ...(p?.tracestate ? { tracestate: p.tracestate } : {}),
  };
}

/**
 * Writes `out` as W3C and B3 headers (the single `b3` header too when the request used it), replacing whatever the
 * request carried, so every format downstream names the same trace and span.
 */
export function writeTrace(h: Headers, out: OutgoingTrace, singleB3: boolean): void {
  const flag = out.sampled ? '1' : '0';
  h.traceparent = `00-${out.traceId}-${out.spanId}-0${flag}`;
  if (out.tracestate) h.tracestate = out.tracestate;
  else delete h.tracestate;
  h['x-b3-traceid'] = out.b3TraceId;
  h['x-b3-spanid'] = out.spanId;
  if (out.parentSpanId) h['x-b3-parentspanid'] = out.parentSpanId;
  else delete h['x-b3-parentspanid'];
  h['x-b3-sampled'] = flag;
  if (out.debug) h['x-b3-flags'] = '1';
  else delete h['x-b3-flags'];
  if (singleB3) h.b3 = `${out.b3TraceId}-${out.spanId}-${out.debug ? 'd' : flag}${out.parentSpanId ? `-${out.parentSpanId}` : ''}`;
  else delete h.b3;
}
