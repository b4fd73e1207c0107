// Property-based fuzzing of the push stream's decoding (issue 12): the NDJSON framing (NdjsonLines, as ConfigClient
// feeds it the stream's utf8 text) and what the client does with each line (JSON.parse, validateEnvelope,
// applyMessage). Bounded: fixed seeds and run counts; fast-check prints the seed and the shrunk counterexample.
import { StringDecoder } from 'node:string_decoder';
import test from 'ava';
import fc from 'fast-check';
import { applyMessage, ConfigError, NdjsonLines, validateEnvelope, type ClientKind, type NdjsonEvent, type PushMessage } from '../src/index.js';

const SEED = 0x5eed12;
const opts = (numRuns: number) => ({ seed: SEED, numRuns });

/** Feeds `bytes` cut at `cuts` through a utf8 decoder (as `stream.setEncoding('utf8')` does) into the framing. */
function frame(bytes: Uint8Array, cuts: number[], max: number): NdjsonEvent[] {
  const lines = new NdjsonLines(max);
  const dec = new StringDecoder('utf8');
  const out: NdjsonEvent[] = [];
  let at = 0;
  for (const c of [...new Set(cuts.map((x) => x % (bytes.length + 1)))].sort((a, b) => a - b).concat(bytes.length)) {
    out.push(...lines.push(dec.write(Buffer.from(bytes.subarray(at, c)))));
    at = c;
  }
  out.push(...lines.push(dec.end()));
  return out;
}

/** What the framing should yield for `text` whole: its non-blank lines (the last one only if terminated). */
function expected(text: string, max: number): NdjsonEvent[] {
  const parts = text.split('\n');
  parts.pop(); // unterminated tail: not a message yet
  return parts.flatMap((l): NdjsonEvent[] => (l.length > max ? [{ tooLong: true }] : l.trim() ? [{ line: l }] : []));
}

test('framing: arbitrary bytes cut anywhere yield the same lines as the text whole, and never throw', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
      const whole = frame(bytes, [], 1 << 20);
      t.deepEqual(frame(bytes, cuts, 1 << 20), whole);
      t.deepEqual(whole, expected(new StringDecoder('utf8').end(Buffer.from(bytes)), 1 << 20));
    }),
    opts(300),
  );
  t.pass();
});

const messageText = fc
  .array(fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constant('')), { maxLength: 6 })
  .map((ls) => ls.map((l) => l.replaceAll('\n', ' ')).join('\n') + '\n');

test('framing: messages split at every byte boundary decode as the whole, multi-byte characters included', (t) => {
  fc.assert(
    fc.property(messageText, (text) => {
      const bytes = new TextEncoder().encode(text);
      const whole = frame(bytes, [], 1 << 20);
      t.deepEqual(whole, expected(text, 1 << 20));
      for (let i = 0; i <= bytes.length; i++) t.deepEqual(frame(bytes, [i], 1 << 20), whole);
      t.deepEqual(frame(bytes, Array.from({ length: bytes.length + 1 }, (_, i) => i), 1 << 20), whole);
    }),
    opts(60),
  );
});

test('framing: a line over the cap is reported once and skipped; the lines after it still arrive', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 4, max: 40 }), messageText, fc.array(fc.nat(), { maxLength: 8 }), (max, text, cuts) => {
      const long = 'x'.repeat(max + 1 + (cuts[0] ?? 0) % 50);
      const all = `${long}\n${text}`;
      const bytes = new TextEncoder().encode(all);
      const got = frame(bytes, cuts, max);
      t.deepEqual(got, [{ tooLong: true }, ...expected(text, max)]);
      for (const ev of got) if ('line' in ev) t.true(ev.line.length <= max);
    }),
    opts(150),
  );
});

// ---- what the client does with one line: a config, or a ConfigError (the NACK), never another exception ----

const kinds: ClientKind[] = ['ztunnel', 'waypoint'];
/** A value of about the right shape, or anything JSON. */
const loose = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 20, arbitrary: a }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, { weight: 1, arbitrary: fc.constant(undefined) });
const name = fc.constantFrom('a', 'b', 'default', '', '__proto__', 'constructor', 'toString');
const workload = fc.record({
  uid: loose(name),
  name: loose(name),
  namespace: loose(name),
  serviceAccount: loose(name),
  workloadIps: loose(fc.array(fc.constantFrom('10.0.0.1', '::1', 'nope'), { maxLength: 2 })),
  protocol: loose(fc.constantFrom('TCP', 'HBONE')),
  services: loose(fc.dictionary(name, fc.dictionary(fc.constantFrom('80', '-1', 'x'), loose(fc.constantFrom(80, 70000))))),
  labels: loose(fc.dictionary(name, loose(name))),
  waypoint: loose(fc.record({ destination: loose(name), hboneMtlsPort: loose(fc.constant(15008)) })),
});
const service = fc.record({
  name: loose(name),
  namespace: loose(name),
  hostname: loose(name),
  vips: loose(fc.array(name, { maxLength: 2 })),
  ports: loose(fc.dictionary(fc.constantFrom('80', 'x'), loose(fc.constant(8080)))),
  appProtocols: loose(fc.dictionary(fc.constantFrom('80', 'x'), loose(fc.constantFrom('HTTP2', 'GRPC')))),
  endpoints: loose(fc.dictionary(name, loose(fc.record({ workloadUid: loose(name), port: loose(fc.dictionary(fc.constantFrom('80'), loose(fc.constant(8080)))) })))),
});
const match = fc.dictionary(
  fc.constantFrom('sourceIps', 'destinationPorts', 'serviceAccounts', 'namespaces', 'principals', 'notPrincipals', 'other'),
  loose(fc.array(loose(fc.oneof(fc.constant({ Exact: 'a' }), fc.constant({ namespace: 'a', serviceAccount: 'b' }), fc.constant(80), fc.constant('10.0.0.0/8'))), { maxLength: 2 })),
);
const policy = fc.record({
  name: loose(name),
  namespace: loose(name),
  scope: loose(fc.constantFrom('Global', 'Namespace', 'WorkloadSelector')),
  action: loose(fc.constantFrom('Allow', 'Deny')),
  dryRun: loose(fc.boolean()),
  rules: loose(fc.array(loose(fc.array(loose(fc.array(loose(match), { maxLength: 2 })), { maxLength: 2 })), { maxLength: 2 })),
});
const resource = fc.record({ apiVersion: loose(name), kind: loose(name), metadata: loose(fc.record({ name: loose(name), namespace: loose(name) })) });
const waypointInfo = fc.record({
  name: loose(name),
  namespace: loose(name),
  gatewayClassName: loose(name),
  trafficType: loose(fc.constantFrom('service', 'workload', 'all', 'none')),
  services: loose(fc.array(name, { maxLength: 2 })),
  workloads: loose(fc.array(name, { maxLength: 2 })),
});
/** A config for `kind`: mostly its own fields, sometimes the other kind's or unknown ones. */
const config = (kind: ClientKind) =>
  fc
    .tuple(
      fc.record(
        (kind === 'ztunnel'
          ? { workloads: loose(fc.array(loose(workload), { maxLength: 2 })), services: loose(fc.array(loose(service), { maxLength: 2 })), policies: loose(fc.array(loose(policy), { maxLength: 2 })) }
          : { workloads: loose(fc.array(loose(workload), { maxLength: 2 })), services: loose(fc.array(loose(service), { maxLength: 2 })), resources: loose(fc.array(loose(resource), { maxLength: 2 })), waypoint: loose(waypointInfo) }) as Record<string, fc.Arbitrary<unknown>>,
        { requiredKeys: [] },
      ),
      fc.oneof({ weight: 8, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('__proto__', 'other', 'policies', 'resources', 'waypoint', 'toString'), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }) }),
    )
    .map(([c, extra]) => ({ ...c, ...extra }));
const removals = loose(fc.dictionary(fc.constantFrom('workloads', 'services', 'policies', 'resources', 'waypoint', '__proto__', 'x'), loose(fc.array(name, { maxLength: 2 }))));
const nonce = loose(fc.constantFrom('n1', 'n2', ''));
const version = loose(fc.constantFrom('v1', 'v2'));
/** Mostly a full push or a delta, sometimes any mix of the envelope's fields. */
const message = (kind: ClientKind) =>
  fc.oneof(
    fc.record({ nonce, version, full: loose(config(kind)) }),
    fc.record({ nonce, version, base: fc.constantFrom('v1', 'v2'), upserts: loose(config(kind)), removals }, { requiredKeys: ['nonce', 'version', 'base'] }),
    fc.record({ nonce, version, base: loose(fc.constantFrom('v1', 'v2')), full: loose(config(kind)), upserts: loose(config(kind)), removals }, { requiredKeys: [] }),
  );
const exchange = fc.constantFrom(...kinds).chain((kind) => fc.tuple(fc.constant(kind), fc.option(message(kind), { nil: undefined }), message(kind)));

/** The client's handling of one line, minus the socket: a config, or the error it NACKs with. */
function handle(kind: ClientKind, held: { version: string; config: object } | undefined, line: string): object {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    throw new ConfigError(`not JSON: ${(err as Error).message}`);
  }
  validateEnvelope(msg);
  return applyMessage(kind, held, msg);
}

const outcome = (f: () => object): { config: object } | { error: unknown } => {
  try {
    return { config: f() };
  } catch (error) {
    return { error };
  }
};

test('messages: arbitrary JSON shapes either apply or are refused with a ConfigError, never a TypeError', (t) => {
  let applied = 0;
  fc.assert(
    fc.property(exchange, fc.oneof(fc.constant(undefined), fc.string({ maxLength: 30 })), ([kind, first, second], garbage) => {
      let held: { version: string; config: object } | undefined;
      for (const m of [first, second]) {
        if (m === undefined) continue;
        const r = outcome(() => handle(kind, held, JSON.stringify(m) ?? 'null'));
        if ('error' in r) {
          if (!(r.error instanceof ConfigError)) throw r.error;
        } else {
          // What was applied is what a later full push of it re-validates: an accepted config stays acceptable.
          const again = outcome(() => handle(kind, undefined, JSON.stringify({ nonce: 'n', version: 'v9', full: r.config })));
          if ('error' in again) throw new Error(`applied config does not validate as a full push: ${String(again.error)}`);
          held = { version: (m as PushMessage).version, config: r.config };
          applied++;
        }
      }
      if (garbage !== undefined) {
        const r = outcome(() => handle(kind, held, garbage));
        if ('error' in r && !(r.error instanceof ConfigError)) throw r.error;
      }
    }),
    opts(400),
  );
  t.true(applied > 0, 'the generator reaches configs the client accepts');
  t.log(`${applied} messages applied`);
});
