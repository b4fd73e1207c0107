// Certificate rotation and expiry with real TLS on loopback: renewed certificates reach new HBONE connections (client
// pool and server) while tunnels opened before keep working; an expired certificate with the CA down fails closed,
// is logged once per identity and recovers when the CA is back; the manager's identities are bounded.
import type * as http2 from 'node:http2';
import type * as tls from 'node:tls';
import test from 'ava';
import { CertificateManager, HboneClient, HboneError, HboneServer, LocalCA, createRootCA, setLogSink, type CertificateSource, type WorkloadCertificate } from '../src/index.js';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';
const SERVER = 'spiffe://cluster.local/ns/default/sa/server';

const logs: string[] = [];
setLogSink((l) => logs.push(l));

/** A CA whose renewals wait until the test lets one through (`release`), or fail while `down`. */
function controlledCA(ttlSeconds: number) {
  const ca = new LocalCA(createRootCA(), ttlSeconds);
  const issued = new Map<string, number>();
  let allowed = 0;
  let waiting: (() => void)[] = [];
  const state = { down: false, gated: false };
  const source: CertificateSource = {
    fetch: async (id, csr) => {
      if (state.down) throw new Error('connect ECONNREFUSED 10.96.0.10:15012');
      if (state.gated && (issued.get(id) ?? 0) > 0) {
        while (allowed === 0) await new Promise<void>((r) => waiting.push(r));
        allowed--;
      }
      issued.set(id, (issued.get(id) ?? 0) + 1);
      return ca.fetch(id, csr);
    },
  };
  const release = (n: number) => {
    allowed += n;
    const w = waiting;
    waiting = [];
    for (const r of w) r();
  };
  return { ca, source, state, issued, release };
}

function echoOnce(s: http2.ClientHttp2Stream, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      got += d.toString();
      if (got.length >= payload.length) {
        s.off('data', onData);
        resolve(got);
      }
    };
    let got = '';
    s.on('data', onData);
    s.once('error', reject);
    s.write(payload);
  });
}

const serialOf = (s: http2.Http2Stream) => (s.session!.socket as tls.TLSSocket).getPeerCertificate().serialNumber;

const updated = (m: CertificateManager, identity: string) =>
  new Promise<WorkloadCertificate>((resolve) => {
    const on = (id: string, c: WorkloadCertificate) => {
      if (id !== identity) return;
      m.off('updated', on);
      resolve(c);
    };
    m.on('updated', on);
  });

test('rotation: new connections (client pool and server) present the renewed certificate; the tunnel opened before keeps echoing', async (t) => {
  // 60 s certificates are backdated 60 s by the test CA: renewal is due at once, and waits for release().
  const ca = controlledCA(60);
  ca.state.gated = true;
  const certs = new CertificateManager(ca.source);
  const clientCert1 = await certs.get(CLIENT);
  const serverCert1 = await certs.get(SERVER);
  const serverSerials: string[] = [];
  const server = new HboneServer({
    certificate: serverCert1,
    onTunnel: (tun) => {
      serverSerials.push(serialOf(tun.stream)); // the client certificate this tunnel's connection presented
      const s = tun.accept();
      s.pipe(s);
    },
  });
  certs.on('updated', (id: string, c: WorkloadCertificate) => id === SERVER && server.setCertificate(c));
  const { port } = await server.listen(0, '127.0.0.1');
  const client = new HboneClient();
  const connect = () => client.connect({ nextHop: { host: '127.0.0.1', port }, authority: '127.0.0.5:8080', expectedIdentities: [SERVER], certificate: certs.current(CLIENT)! });

  const old = await connect();
  t.is(await echoOnce(old, 'before'), 'before');
  t.is(serialOf(old).toLowerCase(), serverCert1.serial.toLowerCase());
  t.is(serverSerials[0]!.toLowerCase(), clientCert1.serial.toLowerCase());

  const renewed = Promise.all([updated(certs, CLIENT), updated(certs, SERVER)]);
  ca.release(2);
  const [clientCert2, serverCert2] = await renewed;
  t.not(clientCert2.serial, clientCert1.serial);
  t.not(serverCert2.serial, serverCert1.serial);

  // The tunnel opened before the rotation still carries bytes both ways.
  t.is(await echoOnce(old, 'after rotation'), 'after rotation');
  // A new tunnel goes over a new connection: the server sees the new client certificate, the client the new server one.
  const fresh = await connect();
  t.is(await echoOnce(fresh, 'new'), 'new');
  t.is(serverSerials[1]!.toLowerCase(), clientCert2.serial.toLowerCase());
  t.is(serialOf(fresh).toLowerCase(), serverCert2.serial.toLowerCase());
  t.is(server.connectionCount, 2);
  // And the old one still works after the new one opened; it ends normally.
  t.is(await echoOnce(old, 'still'), 'still');
  old.end();
  fresh.end();
  client.destroy();
  server.destroy();
  certs.close();
});

test('CA down past expiry: one log line per identity, expired() lists it, HBONE fails closed; the CA back, it recovers', async (t) => {
  logs.length = 0;
  const ca = controlledCA(3); // 3 s certificates: renewal is due at once (backdated), expiry in 3 s
  const managerLogs: string[] = [];
  const certs = new CertificateManager(ca.source, { initialBackoffMs: 100, maxBackoffMs: 200, log: (level, msg) => managerLogs.push(`${level} ${msg}`) });
  const serverCert = await certs.get(SERVER);
  await certs.get(CLIENT);
  ca.state.down = true;
  const server = new HboneServer({
    certificate: serverCert,
    onTunnel: (tun) => {
      const s = tun.accept();
      s.pipe(s);
    },
  });
  certs.on('updated', (id: string, c: WorkloadCertificate) => id === SERVER && server.setCertificate(c));
  const { port } = await server.listen(0, '127.0.0.1');
  const req = (certificate: WorkloadCertificate) => ({ nextHop: { host: '127.0.0.1', port }, authority: '127.0.0.5:8080', expectedIdentities: [SERVER], certificate });
  t.deepEqual(certs.expired(), []);

  const expired = new Set<string>();
  await new Promise<void>((resolve) =>
    certs.on('expired', (id: string) => {
      expired.add(id);
      if (expired.size === 2) resolve();
    }),
  );
  t.deepEqual(certs.expired().map((e) => e.identity).sort(), [CLIENT, SERVER]);
  t.true(certs.expired().every((e) => e.reason.includes('ECONNREFUSED')));
  for (const id of [CLIENT, SERVER]) {
    const lines = managerLogs.filter((l) => l.startsWith('error') && l.includes(`certificate for ${id} expired at`));
    t.is(lines.length, 1, `one expiry line for ${id}`);
    t.regex(lines[0]!, /renewal failing: connect ECONNREFUSED/);
  }
  t.false(managerLogs.some((l) => l.includes('PRIVATE KEY')));
  t.is(certs.dump().find((d) => d.identity === SERVER)!.state, 'Expired');
  // get() does not hand out the expired certificate.
  await t.throwsAsync(certs.get(CLIENT), { message: /ECONNREFUSED/ });

  // The client never presents the expired certificate...
  const e1 = await t.throwsAsync(new HboneClient().connect(req(certs.current(CLIENT)!)), { instanceOf: HboneError });
  t.regex(e1.message, /expired/);
  // ...and the server refuses a peer with a valid certificate at once (reset, not a hang), logging why.
  const valid = await new CertificateManager(new LocalCA(ca.ca.ca)).get(CLIENT);
  const e2 = await t.throwsAsync(new HboneClient().connect(req(valid)), { instanceOf: HboneError });
  t.true(['CONNECT', 'TLS_FAILURE'].includes(e2.responseFlags), e2.message);
  t.true(logs.some((l) => l.includes('hbone connection refused') && l.includes(SERVER) && l.includes('certificate expired')));

  // The CA comes back: renewal succeeds, nothing is expired, HBONE works again (no restart).
  const back = Promise.all([updated(certs, CLIENT), updated(certs, SERVER)]);
  ca.state.down = false;
  await back;
  t.deepEqual(certs.expired(), []);
  const client = new HboneClient();
  const s = await client.connect(req(certs.current(CLIENT)!));
  t.is(await echoOnce(s, 'recovered'), 'recovered');
  s.end();
  client.destroy();
  server.destroy();
  certs.close();
});

test('identities are bounded: beyond maxIdentities the least recently used is forgotten and its renewal stops', async (t) => {
  // Pods that never started: their fetch keeps failing. Without a bound each would retry forever.
  const calls = new Map<string, number>();
  const source: CertificateSource = {
    fetch: async (id) => {
      calls.set(id, (calls.get(id) ?? 0) + 1);
      throw new Error('pod not found');
    },
  };
  const logsSeen: string[] = [];
  const certs = new CertificateManager(source, { maxIdentities: 2, initialBackoffMs: 5, maxBackoffMs: 10, log: (_l, m) => logsSeen.push(m) });
  const ids = [0, 1, 2, 3, 4].map((i) => `spiffe://cluster.local/ns/gone/sa/pod-${i}`);
  for (const id of ids) await t.throwsAsync(certs.get(id));
  t.is(certs.size, 2);
  t.deepEqual(certs.identities(), ids.slice(3));
  t.true(logsSeen.some((l) => l.includes(`forgetting the certificate of ${ids[0]}`)));
  // The forgotten ones are not retried any more; the two held still are.
  const before = ids.map((id) => calls.get(id) ?? 0);
  await new Promise((r) => setTimeout(r, 200));
  const after = ids.map((id) => calls.get(id) ?? 0);
  t.deepEqual(after.slice(0, 3), before.slice(0, 3));
  t.true(after[3]! > before[3]! && after[4]! > before[4]!);
  // forget() stops the last ones too.
  for (const id of ids) certs.forget(id);
  t.is(certs.size, 0);
  const stopped = ids.map((id) => calls.get(id) ?? 0);
  await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(
    ids.map((id) => calls.get(id) ?? 0),
    stopped,
  );
  certs.close();
});

test('using an identity makes it the most recently used', async (t) => {
  const ca = new LocalCA(createRootCA(), 3600);
  const certs = new CertificateManager(ca, { maxIdentities: 2 });
  const [a, b, c] = ['a', 'b', 'c'].map((n) => `spiffe://cluster.local/ns/default/sa/${n}`) as [string, string, string];
  await certs.get(a);
  await certs.get(b);
  await certs.get(a);
  await certs.get(c);
  t.deepEqual(certs.identities(), [a, c]);
  certs.close();
});

test('CA down across a renewal and back before expiry: renewed in time despite a long back-off, never expired', async (t) => {
  const ca = controlledCA(6); // renewal due at once (backdated), expiry in 6 s
  const certs = new CertificateManager(ca.source, { initialBackoffMs: 60_000, maxBackoffMs: 150_000 });
  const first = await certs.get(CLIENT);
  ca.state.down = true; // the renewal due now fails; the back-off alone would wait 60 s, past expiry
  const outcome = new Promise<string>((resolve) => {
    certs.on('updated', (id: string) => id === CLIENT && resolve('renewed'));
    certs.on('expired', (id: string) => id === CLIENT && resolve('expired'));
  });
  setTimeout(() => (ca.state.down = false), 1500);
  // The manager's timers are unref'd (they never hold a process open): keep this one alive meanwhile.
  const alive = setInterval(() => {}, 1000);
  t.is(await outcome.finally(() => clearInterval(alive)), 'renewed');
  const renewed = certs.current(CLIENT)!;
  t.not(renewed.serial, first.serial);
  t.true(renewed.notAfter > first.notAfter);
  t.deepEqual(certs.expired(), []);
  certs.close();
});

test('the dump keeps the roots apart from the chain even when the CA sends its root inside the chain', async (t) => {
  const ca = new LocalCA(createRootCA());
  const withRoot: CertificateSource = {
    fetch: async (id, csr) => {
      const r = await ca.fetch(id, csr);
      return { certChainPem: [...r.certChainPem, ...r.rootsPem], rootsPem: r.rootsPem };
    },
  };
  const certs = new CertificateManager(withRoot);
  await certs.get(CLIENT);
  const [d] = certs.dump();
  t.is(d!.certChain.length, 1, 'the leaf only');
  t.is(d!.rootCerts.length, 1);
  t.not(d!.certChain[0]!.serialNumber, d!.rootCerts[0]!.serialNumber);
  certs.close();
});
