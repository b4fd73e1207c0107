// The agent's side of the plugin-event socket (Istio: /var/run/istio-cni/pluginevent.sock): HTTP over a Unix socket.
// POST /cmdadd answers 200 once the pod is in the mesh (or needs nothing), 500 with a one-line reason when it cannot
// be programmed (that fails just this pod's sandbox); POST /cmddel always 200. Bad requests get a one-line 400.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { logger, type LevelLogger } from '@ambit/mesh-api';
import { ADD_PATH, DEL_PATH, type AddAnswer, type PluginEvent } from './plugin/config.js';

const MAX_BODY = 64 * 1024;

export interface PluginEventHandlers {
  onAdd(ev: PluginEvent): Promise<AddAnswer>;
  onDel(ev: PluginEvent): Promise<void>;
}

export class BadEventError extends Error {}

/** Validates a decoded event; throws {@link BadEventError} naming the field. */
export function parsePluginEvent(body: unknown, needNetns: boolean): PluginEvent {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadEventError('the event must be a JSON object');
  const b = body as Record<string, unknown>;
  const str = (k: string, required: boolean): string => {
    const v = b[k];
    if (v === undefined || v === null) {
      if (required) throw new BadEventError(`the event has no "${k}"`);
      return '';
    }
    if (typeof v !== 'string') throw new BadEventError(`"${k}" must be a string`);
    if (required && !v) throw new BadEventError(`"${k}" is empty`);
    return v;
  };
  const ips = b.ips ?? [];
  if (!Array.isArray(ips) || ips.some((i) => typeof i !== 'string')) throw new BadEventError('"ips" must be an array of strings');
  return {
    podName: str('podName', true),
    podNamespace: str('podNamespace', true),
    podUid: str('podUid', false),
    netns: str('netns', needNetns),
    containerId: str('containerId', false),
    ifname: str('ifname', false),
    ips: ips as string[],
  };
}

const oneLine = (s: string) => s.split('\n')[0]!.trim();

export class PluginEventServer {
  readonly #socketPath: string;
  readonly #h: PluginEventHandlers;
  readonly #log: LevelLogger;
  #server: http.Server | undefined;

  constructor(opts: { socketPath: string; handlers: PluginEventHandlers; log?: LevelLogger }) {
    this.#socketPath = opts.socketPath;
    this.#h = opts.handlers;
    this.#log = opts.log ?? logger('cni::server');
  }

  get listening(): boolean {
    return this.#server?.listening ?? false;
  }

  /** Removes a stale socket file, listens, restricts the socket to root (0600). */
  async start(): Promise<void> {
    fs.mkdirSync(path.dirname(this.#socketPath), { recursive: true });
    fs.rmSync(this.#socketPath, { force: true });
    const server = http.createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    fs.chmodSync(this.#socketPath, 0o600);
    this.#server = server;
    this.#log.info(`plugin event server listening on ${this.#socketPath}`);
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeIdleConnections();
    await new Promise<void>((r) => s.close(() => r()));
    fs.rmSync(this.#socketPath, { force: true });
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const reply = (status: number, body: string, type = 'text/plain') => {
      if (!res.headersSent) res.writeHead(status, { 'content-type': type });
      res.end(type === 'text/plain' ? oneLine(body) + '\n' : body);
    };
    if (req.url !== ADD_PATH && req.url !== DEL_PATH) return reply(404, `unknown path ${req.url}: use POST ${ADD_PATH} or ${DEL_PATH}`);
    if (req.method !== 'POST') return reply(405, `${req.method} not allowed: use POST`);
    let body = '';
    let tooBig = false;
    req.setEncoding('utf8');
    for await (const chunk of req) {
      body += chunk as string;
      if (body.length > MAX_BODY) {
        tooBig = true;
        break;
      }
    }
    if (tooBig) return reply(413, `event larger than ${MAX_BODY} bytes`);
    let ev: PluginEvent;
    try {
      ev = parsePluginEvent(JSON.parse(body), req.url === ADD_PATH);
    } catch (e) {
      const msg = e instanceof BadEventError ? e.message : 'the event is not valid JSON';
      this.#log.warn(`bad plugin event on ${req.url}: ${msg}`);
      return reply(400, `bad event: ${msg}`);
    }
    if (req.url === DEL_PATH) {
      await this.#h.onDel(ev).catch((e) => this.#log.warn(`handling DEL for pod ${ev.podNamespace}/${ev.podName}: ${(e as Error).message}`));
      return reply(200, '{}', 'application/json');
    }
    try {
      const answer = await this.#h.onAdd(ev);
      reply(200, JSON.stringify(answer), 'application/json');
    } catch (e) {
      const msg = oneLine((e as Error).message);
      this.#log.error(`failed to add pod to mesh name=${ev.podName} namespace=${ev.podNamespace} netns=${ev.netns}: ${msg}`);
      reply(500, msg);
    }
  }
}
