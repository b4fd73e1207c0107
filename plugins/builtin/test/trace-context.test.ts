import test from 'ava';
import { createTestEnv, runChain } from '@ambit/plugin-sdk/testing';
import { TelemetryPlugin } from '../src/index.js';

const on = { provider: 'otel', endpoint: 'http://127.0.0.1:9/v1/traces', randomSamplingPercentage: 100, disableSpanReporting: true };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

async function through(headers: Record<string, string | string[]>, tracing: typeof on | null = on) {
  const env = createTestEnv(tracing ? { tracing: { ...tracing } } : {});
  const r = await runChain([TelemetryPlugin], { headers }, { env });
  return r.requestHeaders;
}

test('B3 only: the trace id is kept, a new span id is made with the old one as parent, W3C says the same', async (t) => {
  const h = await through({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '1' });
  t.is(h['x-b3-traceid'], TRACE);
  t.regex(h['x-b3-spanid'] as string, /^[0-9a-f]{16}$/);
  t.not(h['x-b3-spanid'], SPAN);
  t.is(h['x-b3-parentspanid'], SPAN);
  t.is(h['x-b3-sampled'], '1');
  t.is(h.traceparent, `00-${TRACE}-${h['x-b3-spanid']}-01`);
});

test('a 64-bit B3 trace id keeps its width in B3 and is zero-padded in W3C; a B3 "not sampled" is respected', async (t) => {
  const h = await through({ 'x-b3-traceid': 'a3ce929d0e0e4736', 'x-b3-spanid': SPAN, 'x-b3-sampled': '0' });
  t.is(h['x-b3-traceid'], 'a3ce929d0e0e4736');
  t.is(h['x-b3-sampled'], '0');
  t.is(h.traceparent, `00-0000000000000000a3ce929d0e0e4736-${h['x-b3-spanid']}-00`);
});

test('the single b3 header is continued in the same form, debug kept', async (t) => {
  const h = await through({ b3: `${TRACE}-${SPAN}-d` });
  t.regex(h.b3 as string, new RegExp(`^${TRACE}-(?!${SPAN})[0-9a-f]{16}-d-${SPAN}$`));
  t.is(h['x-b3-flags'], '1');
  t.is(h['x-b3-sampled'], '1');
  t.is(h.traceparent, `00-${TRACE}-${(h.b3 as string).split('-')[1]}-01`);
});

test('W3C and B3 disagreeing: W3C wins and B3 is rewritten to match; tracestate is kept', async (t) => {
  const h = await through({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'congo=t61rcWkgMzE', 'x-b3-traceid': '1111111111111111', 'x-b3-spanid': '2222222222222222', 'x-b3-sampled': '0' });
  const span = (h.traceparent as string).split('-')[2];
  t.not(span, SPAN);
  t.is(h.traceparent, `00-${TRACE}-${span}-01`);
  t.is(h['x-b3-traceid'], TRACE);
  t.is(h['x-b3-spanid'], span);
  t.is(h['x-b3-parentspanid'], SPAN);
  t.is(h['x-b3-sampled'], '1');
  t.is(h.tracestate, 'congo=t61rcWkgMzE');
});

test('tracing on, no context: a new trace starts, sampled at 100%', async (t) => {
  const h = await through({});
  t.regex(h.traceparent as string, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  t.is(h['x-b3-traceid'], (h.traceparent as string).split('-')[1]);
  t.is(h['x-b3-parentspanid'], undefined);
});

test('tracing on at 0%: a new trace is started unsampled', async (t) => {
  const h = await through({}, { ...on, randomSamplingPercentage: 0 });
  t.regex(h.traceparent as string, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  t.is(h['x-b3-sampled'], '0');
});

test('malformed headers never crash and are replaced: a bad traceparent falls back to valid B3; junk everywhere starts a new trace', async (t) => {
  const h = await through({ traceparent: '00-zzzz-1-01', tracestate: 'a=b', 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN });
  t.is(h.traceparent, `00-${TRACE}-${h['x-b3-spanid']}-01`, 'B3 had no decision: sampled at 100%');
  t.is(h.tracestate, undefined, 'the tracestate of a broken traceparent is not forwarded');
  for (const junk of [`00-${'0'.repeat(32)}-${SPAN}-01`, `ff-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01-extra`, '\u0000'.repeat(60)]) {
    const j = await through({ traceparent: junk, 'x-b3-traceid': 'nothex', 'x-b3-spanid': SPAN, b3: 'garbage-1' });
    t.regex(j.traceparent as string, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, junk);
    t.not((j.traceparent as string).split('-')[1], TRACE);
    t.is(j['x-b3-traceid'], (j.traceparent as string).split('-')[1]);
    t.regex(j.b3 as string, /^[0-9a-f]{32}-[0-9a-f]{16}-1$/);
  }
  const twice = await through({ traceparent: [`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`] });
  t.not((twice.traceparent as string).split('-')[1], TRACE, 'a repeated traceparent is not trusted');
});

test('tracing off: valid trace headers pass untouched, malformed ones are dropped, no trace is started', async (t) => {
  const valid = { traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'a=b', 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '1', b3: `${TRACE}-${SPAN}-1` };
  const h = await through({ ...valid }, null);
  for (const [k, v] of Object.entries(valid)) t.is(h[k], v, k);
  const bad = await through({ traceparent: 'nope', tracestate: 'a=b', 'x-b3-traceid': TRACE, 'x-b3-spanid': 'short', b3: 'x' }, null);
  for (const k of ['traceparent', 'tracestate', 'x-b3-traceid', 'x-b3-spanid', 'b3']) t.is(bad[k], undefined, k);
  t.is((await through({}, null)).traceparent, undefined);
});
