// The process a sandboxed WaypointPlugin runs in (started by ./host.ts under Node's permission model: it may read
// only its own package and the shared SDK, write nothing, start no process or worker, and its environment is
// empty). It imports the package, builds the plugin with what it may depend on (LOGGER, WAYPOINT, CLOCK, METRICS
// local to this process), and answers hook calls: a context copy in, the changes the hook made out.

import 'reflect-metadata';
import { CLOCK, container, createMetricsRegistry, LOGGER, METRICS, systemClock, WAYPOINT, type LogFields, type Logger, type Plugin } from '@ambit/plugin-sdk';
import { importPackage, pluginExport, PluginLoadError } from '../loader.js';
import { changesOf, contextFrom, type ContextSnapshot, type FromChild, type HookName, type InitMessage, type ToChild } from './wire.js';

/** Per-request plugin state (ctx.state) kept between hooks; bounded in case onLog never comes. */
const MAX_STATES = 4096;
const states = new Map<string, Map<string | symbol, unknown>>();

const send = (m: FromChild) => process.send?.(m);

function forwardingLogger(scope: string): Logger {
  const log = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, fields?: LogFields) => send({ t: 'log', level, msg: scope ? `${scope}: ${msg}` : msg, fields });
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: (s) => forwardingLogger(scope ? `${scope}::${s}` : s) };
}

let plugin: Plugin | undefined;

async function init(m: InitMessage): Promise<void> {
  try {
    const mod = await importPackage({ ref: { name: m.name, version: m.version }, dir: '', pkgDir: '', entry: m.entry });
    const cls = pluginExport(mod, { name: m.name, version: m.version, export: m.export });
    const c = container.createChildContainer();
    c.register(LOGGER, { useValue: forwardingLogger('') });
    c.register(WAYPOINT, { useValue: m.waypoint });
    c.register(CLOCK, { useValue: systemClock });
    c.register(METRICS, { useValue: createMetricsRegistry() });
    try {
      plugin = c.resolve(cls) as Plugin;
    } catch (err) {
      throw new PluginLoadError('ImportFailed', `cannot construct the plugin of ${m.name}@${m.version} in its sandbox (only LOGGER, WAYPOINT, CLOCK and METRICS can be injected): ${(err as Error).message}`);
    }
    const hooks = (['onRequest', 'onResponse', 'onLog'] as const).filter((h) => typeof plugin![h] === 'function');
    send({ t: 'ready', hooks, name: plugin.name, phase: plugin.phase, priority: plugin.priority });
  } catch (err) {
    const reason = err instanceof PluginLoadError && err.reason === 'NoPluginExport' ? 'NoPluginExport' : 'ImportFailed';
    send({ t: 'failed', reason, message: (err as Error).message });
  }
}

async function call(id: number, hook: HookName, s: ContextSnapshot): Promise<void> {
  const ctx = contextFrom(s);
  const kept = states.get(s.id);
  if (kept) for (const [k, v] of kept) ctx.state.set(k, v);
  try {
    await plugin![hook]!(ctx);
    send({ t: 'result', id, ok: true, changes: changesOf(ctx) });
  } catch (err) {
    send({ t: 'result', id, ok: false, error: err instanceof Error ? err.message : String(err) });
  } finally {
    states.delete(s.id);
    if (hook !== 'onLog' && ctx.state.size) {
      states.set(s.id, ctx.state);
      if (states.size > MAX_STATES) states.delete(states.keys().next().value!);
    }
  }
}

process.on('message', (m: ToChild) => {
  if (m.t === 'init') void init(m);
  else if (m.t === 'call') void call(m.id, m.hook, m.ctx);
  else if (m.t === 'ping') send({ t: 'pong', id: m.id });
});
// The parent going away ends this process.
process.on('disconnect', () => process.exit(0));
