// The worker thread one proxy-wasm filter's VM runs in (started by ./wasm-isolate.ts). It instantiates the module
// with the same host as in-process (./wasm.ts) and answers hook calls: a copy of the request context in, the
// changes the hook made out. The waypoint's event loop never runs module code, so a module that loops forever
// stalls only this thread, which the waypoint then terminates.

import 'reflect-metadata';
import { parentPort, workerData } from 'node:worker_threads';
import type { RequestContext, LogFields, Logger } from '@ambit/plugin-sdk';
import { changesOf, contextFrom } from './sandbox/wire.js';
import { WasmHttpFilter } from './wasm.js';
import type { FromWasmWorker, ToWasmWorker, WasmCall, WasmResult, WasmWorkerInit } from './wasm-isolate.js';

const port = parentPort!;
const send = (m: FromWasmWorker) => port.postMessage(m);

function forwardingLogger(): Logger {
  const log = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, fields?: LogFields) => send({ t: 'log', level, msg, fields });
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: () => logger };
  return logger;
}

/** One object per request (the host's request number), so the filter keeps its per-request context id across hooks. */
const MAX_REQUESTS = 4096;
const requests = new Map<number, object>();
const keys = new WeakMap<RequestContext, object>();

async function main(): Promise<void> {
  const init = workerData as WasmWorkerInit;
  let filter: WasmHttpFilter;
  try {
    filter = await WasmHttpFilter.create({
      name: init.name,
      module: init.module,
      configuration: init.configuration,
      vmConfiguration: init.vmConfiguration,
      logger: forwardingLogger(),
      requestKey: (ctx) => keys.get(ctx) ?? ctx,
    });
  } catch (err) {
    send({ t: 'failed', message: (err as Error).message });
    return;
  }
  const call = async (m: WasmCall): Promise<WasmResult> => {
    const ctx = contextFrom(m.ctx);
    let key = requests.get(m.req);
    if (!key) {
      key = {};
      requests.set(m.req, key);
      if (requests.size > MAX_REQUESTS) requests.delete(requests.keys().next().value!);
    }
    keys.set(ctx, key);
    if (m.hook === 'onLog') requests.delete(m.req);
    try {
      await filter[m.hook](ctx);
      return { id: m.id, ok: true, changes: changesOf(ctx) };
    } catch (err) {
      return { id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  };
  port.on('message', (m: ToWasmWorker) => {
    void (async () => {
      const results: WasmResult[] = [];
      for (const c of m.calls) results.push(await call(c));
      send({ t: 'results', results });
    })();
  });
  send({ t: 'ready' });
}

void main();
