import test from 'ava';
import { duplexPair, type Duplex } from 'node:stream';
import { echo, service, startWaypoint, workload } from './helpers.js';

/** Bytes a tunnel's client side receives until the waypoint ends it. */
function collect(b: Duplex): { text: () => string; ended: Promise<void> } {
  let out = '';
  b.on('data', (c) => (out += c));
  return { text: () => out, ended: new Promise((r) => b.once('end', () => r())) };
}

test('drain of served tunnels: an idle one ends at once; a busy one finishes its request and then ends', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = await echo('slow', (req, res) => {
    if (req.url === '/slow') {
      gate.then(() => res.end('done'));
      return true;
    }
    return false;
  });
  const mesh = { services: [service('slow', '10.96.0.50', { 80: 0 })], workloads: [workload('slow', '127.0.0.1', 'slow', { 'default/slow.default.svc.cluster.local': { 80: slow.port } })] };
  const h = await startWaypoint(mesh);
  const peer = { principal: 'spiffe://cluster.local/ns/default/sa/sleep', authority: '10.96.0.50:80', clientAddress: '10.244.0.7', clientPort: 40000 };
  try {
    // An idle keep-alive tunnel: one request answered, the tunnel kept open.
    const [idleA, idleB] = duplexPair();
    h.waypoint.serve(idleA, peer);
    const idle = collect(idleB);
    idleB.write('GET /fast HTTP/1.1\r\nhost: slow\r\n\r\n');
    for (let i = 0; i < 500 && !idle.text().includes('"server":"slow"'); i++) await new Promise((r) => setTimeout(r, 10));
    t.regex(idle.text(), /^HTTP\/1.1 200 OK/);
    // A busy tunnel: its request waits at the upstream.
    const [busyA, busyB] = duplexPair();
    h.waypoint.serve(busyA, peer);
    const busy = collect(busyB);
    busyB.write('GET /slow HTTP/1.1\r\nhost: slow\r\n\r\n');
    for (let i = 0; i < 500 && !slow.requests.some((r) => r.url === '/slow'); i++) await new Promise((r) => setTimeout(r, 10));

    const closing = h.waypoint.close(5000);
    t.false(h.waypoint.ready);
    await idle.ended;
    t.is(busy.text(), '', 'the busy tunnel has no answer yet');
    release();
    await busy.ended;
    t.regex(busy.text(), /^HTTP\/1.1 200 OK/);
    t.regex(busy.text(), /done$/);
    await closing;
  } finally {
    release();
    await slow.close();
  }
});
