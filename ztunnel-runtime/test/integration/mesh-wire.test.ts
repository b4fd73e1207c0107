// What the wire shows: with the namespace enrolled, a request from sleep to a server on the other virtual node
// crosses the bridge `ambit0` only as TLS 1.3 to port 15008 (tcpdump capture; a unique marker in the request is
// nowhere in clear), and un-enrolled the same marker is in clear. Hostile peers: a flood of half-open connections
// to the server's 15008 while sleep keeps working; ztunnel does not restart and drops them after its TLS
// handshake timeout. And `ambit ztunnel-config workloads` lists the enrolled pods with protocol HBONE.
// Runs on the shared cluster named by AMBIT_KUBECONFIG, else on a cluster of its own. Root.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { MeshFixture, execFileAsync as exec, serverManifest, sleep } from '@ambit/cluster';

const ns = MeshFixture.namespace('zt-wire');
const work = mkdtempSync(join(tmpdir(), 'ambit-wire-'));

/** The server on one node, sleep (curl's image) on the other. */
const manifests = (serverNode: string, clientNode: string) =>
  `${serverManifest({ node: serverNode })}---${serverManifest({ name: 'sleep', node: clientNode, image: 'curlimages/curl:8.16.0', command: ['/bin/sleep', 'infinity'], port: false })}`;

let f: MeshFixture;
let serverIp = '';
let serverNode = '';

const must = (args: string[], input?: string) => f.must(args, input);
const eventually = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs?: number) => f.eventually(what, fn, timeoutMs);
const redirected = () => f.redirected();

/** sleep -> http://server/<path> with a header: what the user sees. */
function curl(path = '/', header?: string) {
  return f.curl('sleep', `http://server${path}`, header ? ['-H', header] : []);
}

async function ztunnelRestarts(): Promise<Record<string, number>> {
  return Object.fromEntries((await f.ztunnelPods()).map((p) => [p.name, p.restarts]));
}

interface Segment { src: string; dst: string; srcPort: number; dstPort: number; payload: Buffer }

/** TCP segments of an Ethernet (linktype 1) pcap file, IPv4 only. */
function tcpSegments(pcap: Buffer): Segment[] {
  const magic = pcap.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const u32 = (o: number) => (le ? pcap.readUInt32LE(o) : pcap.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`unexpected pcap link type ${u32(20)}`);
  const out: Segment[] = [];
  for (let off = 24; off + 16 <= pcap.length; ) {
    const incl = u32(off + 8);
    const frame = pcap.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    if (frame.length < 34 || frame.readUInt16BE(12) !== 0x0800) continue;
    const ip = frame.subarray(14);
    if (ip[9] !== 6) continue;
    const ihl = (ip[0]! & 0x0f) * 4;
    const totalLen = ip.readUInt16BE(2);
    const tcp = ip.subarray(ihl, totalLen);
    if (tcp.length < 20) continue;
    const doff = (tcp[12]! >> 4) * 4;
    out.push({ src: [...ip.subarray(12, 16)].join('.'), dst: [...ip.subarray(16, 20)].join('.'), srcPort: tcp.readUInt16BE(0), dstPort: tcp.readUInt16BE(2), payload: tcp.subarray(doff) });
  }
  return out;
}

/** Runs `fn` while tcpdump writes everything on ambit0 to a file; stops tcpdump with SIGINT and returns the file's bytes. */
async function capture(name: string, fn: () => Promise<void>): Promise<Buffer> {
  const file = join(work, `${name}.pcap`);
  const td: ChildProcess = spawn('tcpdump', ['-i', 'ambit0', '-U', '-s', '0', '-w', file, 'ip'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  td.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => td.once('exit', (code) => r(code)));
  try {
    await eventually('tcpdump listening', async () => err.includes('listening on'), 10_000);
    await fn();
    await sleep(500);
  } finally {
    td.kill('SIGINT');
  }
  const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
  if (code !== 0) throw new Error(`tcpdump did not stop cleanly (${String(code)}): ${err}`);
  return readFileSync(file);
}

test.before(async () => {
  f = await MeshFixture.open(ns);
  const nodes = (await must(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'])).split(/\s+/).filter(Boolean).sort();
  if (nodes.length < 2) throw new Error(`need two nodes, have ${nodes.join(',')}`);
  serverNode = nodes[1]!;
  await must(['apply', '-n', ns, '-f', '-'], manifests(serverNode, nodes[0]!));
  await must(['wait', '-n', ns, '--for=condition=available', 'deployment', '--all', '--timeout=120s']);
  serverIp = (await must(['get', 'pods', '-n', ns, '-l', 'app=server', '-o', 'jsonpath={.items[0].status.podIP}'])).trim();
  await must(['label', 'namespace', ns, 'istio.io/dataplane-mode=ambient']);
  // No request yet: the first one, under capture, opens the pooled HBONE connection and shows its handshake.
  await eventually('every pod redirected', async () => (await redirected()).every(Boolean));
  // Redirected is not enough: sleep's ztunnel must also have been told the server speaks HBONE, or the first
  // request (the one under capture) leaves in plain text, as Istio's ztunnel sends to a workload it holds as TCP.
  await eventually("sleep's ztunnel holds the server as HBONE", async () => {
    const out = await f.ambit(['ztunnel-config', 'workloads', '-n', ns, '--node', nodes[0]!]);
    return out.split('\n').some((l) => l.includes(serverIp) && /\sHBONE\s*$/.test(l));
  });
});

test.after.always(async () => {
  rmSync(work, { recursive: true, force: true });
  await f?.close();
});

test.serial('ambit ztunnel-config workloads lists the enrolled pods with protocol HBONE', async (t) => {
  const stdout = await f.ambit(['ztunnel-config', 'workloads', '-n', ns]);
  const lines = stdout.trimEnd().split('\n');
  t.deepEqual(lines[0]!.split(/\s{2,}/), ['NAMESPACE', 'POD NAME', 'ADDRESS', 'NODE', 'WAYPOINT', 'PROTOCOL']);
  const rows = lines.slice(1).map((l) => l.split(/\s+/));
  t.is(rows.length, 2, stdout);
  t.deepEqual(rows.map((r) => [r[0], r[1]!.replace(/-[a-z0-9]+-[a-z0-9]+$/, ''), r[5]]), [
    [ns, 'server', 'HBONE'],
    [ns, 'sleep', 'HBONE'],
  ]);
  t.true(rows.some((r) => r[2] === serverIp && r[3] === serverNode), stdout);
});

test.serial('enrolled: across nodes the request is TLS 1.3 to 15008 and the marker is nowhere in clear', async (t) => {
  const marker = `ambit-marker-${randomBytes(12).toString('hex')}`;
  const pcap = await capture('mesh', async () => {
    // http.server answers 404 (no such file): the request got there. Retried while the pods' proxies start.
    const r = await eventually('sleep reaches the server through the mesh', async () => {
      const c = await curl(`/${marker}`, `x-marker: ${marker}`);
      return c.stdout === '404' && c;
    });
    t.is(r.stdout, '404');
  });
  const segs = tcpSegments(pcap);
  const toHbone = segs.filter((s) => s.dstPort === 15008 && s.payload.length > 0);
  const fromHbone = segs.filter((s) => s.srcPort === 15008 && s.payload.length > 0);
  t.true(toHbone.some((s) => s.payload[0] === 0x16 && s.payload[5] === 0x01), 'ClientHello record to 15008');
  // ServerHello carrying supported_versions = TLS 1.3 (extension 0x002b, length 2, 0x0304).
  const tls13 = Buffer.from([0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
  t.true(fromHbone.some((s) => s.payload[0] === 0x16 && s.payload[5] === 0x02 && s.payload.includes(tls13)), 'TLS 1.3 ServerHello from 15008');
  t.true(toHbone.some((s) => s.payload.includes(Buffer.from([0x17, 0x03, 0x03]))), 'application data records to 15008');
  // Between pods. The kubelet's readiness probes come from the node (10.244.0.x, SNATed to 169.254.7.127 for
  // enrolled pods) in plain, as in Istio: they are not pod traffic.
  const podIp = (a: string) => /^10\.244\.([1-9]\d*)\.\d+$/.test(a);
  t.false(segs.some((s) => podIp(s.src) && podIp(s.dst) && (s.dstPort === 8080 || s.srcPort === 8080)), 'no plain traffic between pods to the server port on the wire');
  t.false(pcap.includes(Buffer.from(marker)), 'marker not in clear anywhere in the capture');
  const { stdout } = await exec('tcpdump', ['-r', join(work, 'mesh.pcap'), '-nn', 'tcp port 15008'], { maxBuffer: 64 * 1024 * 1024 });
  t.true(stdout.split('\n').some((l) => l.includes(`> ${serverIp}.15008:`)), 'tcpdump shows the tunnel to the server');
});

test.serial('hostile peers: 2,000 half-open connections to 15008; sleep keeps working, ztunnel does not restart, they get dropped', async (t) => {
  const restarts = await ztunnelRestarts();
  const partial = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
  const sockets: net.Socket[] = [];
  const closed: Promise<void>[] = [];
  let connected = 0;
  for (let i = 0; i < 2000; i++) {
    const s = net.connect({ host: serverIp, port: 15008 });
    s.on('connect', () => {
      connected++;
      if (i % 2) s.write(partial); // half of them a partial ClientHello, half nothing at all
    });
    s.on('error', () => undefined);
    closed.push(new Promise((r) => s.once('close', () => r())));
    sockets.push(s);
    if (i % 200 === 199) await sleep(50);
  }
  try {
    await eventually('half-open connections established', async () => connected >= 1900, 30_000);
    for (let i = 0; i < 5; i++) {
      const r = await curl(`/?during-flood=${i}`);
      t.is(r.stdout, '200', `request ${i} during the flood: ${r.stderr}`);
    }
    // ztunnel's handshake timeout (10s) drops them; nothing is ever answered.
    const all = await Promise.race([Promise.all(closed).then(() => true), sleep(40_000).then(() => false)]);
    t.true(all, `${sockets.filter((s) => !s.destroyed && !s.closed).length} half-open connections still open`);
    t.true(sockets.every((s) => s.bytesRead === 0), 'no answer to a half-open peer');
  } finally {
    for (const s of sockets) s.destroy();
  }
  t.deepEqual(await ztunnelRestarts(), restarts, 'no ztunnel restarted');
  t.is((await curl('/?after-flood')).stdout, '200');
});

test.serial('un-enrolled: the same request shows the marker in clear on the wire', async (t) => {
  await must(['label', 'namespace', ns, 'istio.io/dataplane-mode-']);
  await eventually('annotation removed', async () => (await redirected()).every((x) => !x));
  const marker = `ambit-marker-${randomBytes(12).toString('hex')}`;
  const pcap = await capture('plain', async () => {
    const r = await curl(`/${marker}`, `x-marker: ${marker}`);
    t.is(r.stdout, '404', r.stderr);
  });
  t.true(pcap.includes(Buffer.from(marker)), 'marker in clear');
  const segs = tcpSegments(pcap);
  t.true(segs.some((s) => s.dstPort === 8080 && s.payload.includes(Buffer.from(`GET /${marker} HTTP/1.1`))), 'plain HTTP request to the server port');
  t.false(segs.some((s) => s.dstPort === 15008), 'no HBONE any more');
});
