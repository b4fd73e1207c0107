// Upstream pools are per endpoint, and endpoints follow peers' destinations: the cache that holds them is bounded.

import test from 'ava';
import type { Dispatcher } from 'undici';
import { PoolCache } from '../src/index.js';

test('PoolCache keeps at most `max` pools, closing the least recently used one to make room', async (t) => {
  const closed: string[] = [];
  const made: string[] = [];
  const cache = new PoolCache<Dispatcher>((key) => {
    made.push(key);
    return { close: async () => void closed.push(key) } as unknown as Dispatcher;
  }, 3);
  const a = cache.get('a');
  cache.get('b');
  cache.get('c');
  t.is(cache.get('a'), a, 'a hit returns the same pool and makes it the most recent');
  cache.get('d');
  t.deepEqual(closed, ['b']);
  for (let i = 0; i < 100; i++) cache.get(`port-${i}`);
  t.is(cache.size, 3);
  t.is(closed.length, 101);
  t.deepEqual(made.slice(0, 4), ['a', 'b', 'c', 'd']);
  await cache.close();
  t.is(closed.length, 104);
});
