// The TCP metrics' label sets, as a scrape shows them: an open connection's bytes count in its series as they flow,
// once when it closes, and still so when more label sets have come and gone than the ztunnel remembers.
import test from 'ava';
import { Metrics } from '../src/index.js';

const line = (text: string, family: string, workload: string) =>
  text.split('\n').find((l) => l.startsWith(`${family}{`) && l.includes(`source_workload="${workload}"`));

test('open connection bytes show live and count once at close, past more label sets than are cached', async (t) => {
  const m = new Metrics();
  let bytes: [number, number] = [5, 7];
  const held = m.track({ reporter: 'source', source_workload: 'held' }, { bytes: () => bytes });
  // 3,000 other label sets, each a connection opened and closed (more than the label-set cache keeps).
  for (let i = 0; i < 3000; i++) m.track({ reporter: 'source', source_workload: `w${i}` }, { bytes: () => [1, 2] }).end();
  bytes = [50, 70];
  let text = await m.render();
  t.regex(line(text, 'istio_tcp_sent_bytes_total', 'held') ?? '', / 50$/);
  t.regex(line(text, 'istio_tcp_received_bytes_total', 'held') ?? '', / 70$/);
  t.regex(line(text, 'istio_tcp_connections_opened_total', 'w2999') ?? '', / 1$/);
  // The same label set again after the cache started over: one series, counted twice.
  const again = m.track({ reporter: 'source', source_workload: 'held' }, { bytes: () => [1, 1] });
  t.regex(line(await m.render(), 'istio_tcp_sent_bytes_total', 'held') ?? '', / 51$/);
  again.end();
  held.end();
  text = await m.render();
  t.regex(line(text, 'istio_tcp_connections_opened_total', 'held') ?? '', / 2$/);
  t.regex(line(text, 'istio_tcp_connections_closed_total', 'held') ?? '', / 2$/);
  t.regex(line(text, 'istio_tcp_sent_bytes_total', 'held') ?? '', / 51$/);
  t.is(text.split('\n').filter((l) => l.startsWith('istio_tcp_sent_bytes_total{') && l.includes('source_workload="held"')).length, 1);
  // No failure: the failed family has no series for it.
  t.is(line(text, 'istio_tcp_connections_failed_total', 'held'), undefined);
  m.failed({ reporter: 'source', source_workload: 'held' });
  t.regex(line(await m.render(), 'istio_tcp_connections_failed_total', 'held') ?? '', / 1$/);
});
