// The four services as real processes on loopback, wired to each other by address.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../src/bookinfo/', import.meta.url));
const children: ChildProcess[] = [];
const base = 19080 + Math.floor(Math.random() * 500) * 8;
const ports = { productpage: base, details: base + 1, ratings: base + 2, v1: base + 3, v2: base + 4, v3: base + 5 };

async function start(script: string, port: number, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [`${dist}${script}.js`], {
    env: { ...process.env, PORT: String(port), HOSTNAME: `${script}-${port}`, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  while (!out.includes('listening')) await once(child.stdout!, 'data');
}

test.before(async () => {
  await start('details', ports.details);
  await start('ratings', ports.ratings);
  await start('reviews', ports.v1, { HOSTNAME: 'reviews-v1-abc' });
  await start('reviews', ports.v2, { HOSTNAME: 'reviews-v2-def', ENABLE_RATINGS: 'true', STAR_COLOR: 'black', RATINGS_ADDR: `127.0.0.1:${ports.ratings}` });
  await start('reviews', ports.v3, { HOSTNAME: 'reviews-v3-ghi', ENABLE_RATINGS: 'true', STAR_COLOR: 'red', RATINGS_ADDR: `127.0.0.1:${ports.ratings}` });
});
test.after.always(() => { for (const c of children) c.kill('SIGTERM'); });

test('productpage renders details and the reviews of the version it reached', async (t) => {
  await start('productpage', ports.productpage, { DETAILS_ADDR: `127.0.0.1:${ports.details}`, REVIEWS_ADDR: `127.0.0.1:${ports.v2}` });
  const home = await (await fetch(`http://127.0.0.1:${ports.productpage}/`)).text();
  t.regex(home, /<title>Simple Bookstore App<\/title>/);
  const page = await (await fetch(`http://127.0.0.1:${ports.productpage}/productpage`)).text();
  t.regex(page, /Reviews served by:<\/dt><dd><u>reviews-v2-def<\/u>/);
  t.regex(page, /style="color:black">★★★★★</);
  t.regex(page, /William Shakespeare/);
});

test('reviews v1 has no ratings, v3 has red stars', async (t) => {
  const v1 = await (await fetch(`http://127.0.0.1:${ports.v1}/reviews/0`)).json() as { podname: string; reviews: { rating?: unknown }[] };
  t.is(v1.podname, 'reviews-v1-abc');
  t.is(v1.reviews[0].rating, undefined);
  const v3 = await (await fetch(`http://127.0.0.1:${ports.v3}/reviews/0`)).json() as { reviews: { rating: { stars: number; color: string } }[] };
  t.deepEqual(v3.reviews[0].rating, { stars: 5, color: 'red' });
});

test('productpage survives a dead reviews service', async (t) => {
  const port = base + 6;
  await start('productpage', port, { DETAILS_ADDR: `127.0.0.1:${ports.details}`, REVIEWS_ADDR: '127.0.0.1:1' });
  const res = await fetch(`http://127.0.0.1:${port}/productpage`);
  t.is(res.status, 200);
  t.regex(await res.text(), /Sorry, product reviews are currently unavailable/);
});

test('a service exits on SIGTERM although a client holds a half-sent request open (no pod stuck Terminating)', async (t) => {
  const port = base + 7;
  await start('details', port);
  const child = children[children.length - 1]!;
  const { connect } = await import('node:net');
  const client = connect(port, '127.0.0.1');
  t.teardown(() => client.destroy());
  await once(client, 'connect');
  client.write('GET /details/0 HTTP/1.1\r\nHost: details\r\n'); // headers never finished: not idle, close() waits
  await new Promise((r) => setTimeout(r, 100));
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = await Promise.race([exited, new Promise<[string]>((r) => setTimeout(() => r(['still running after 10 s']), 10_000))]);
  t.is(code, 0);
});
