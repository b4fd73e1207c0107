// `kubectl logs` at the kubelet: GET /containerLogs/{namespace}/{pod}/{container}?follow&previous&timestamps&
// tailLines&sinceSeconds&sinceTime&limitBytes (v1.PodLogOptions as query parameters; kube-apiserver's
// LogLocation builds them). The body is the log as text/plain, streamed and flushed as it comes; with follow it
// stays open until the container stops or the client goes away.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ContainerRef, ContainerRuntime, LogOptions } from '../node/runtime.js';
import { describe } from './routes.js';
import { errorMessage, runtimeErrorCode } from './status.js';

export type Log = (line: string) => void;

function parseBool(v: string | null): boolean | undefined {
  if (v === null) return undefined;
  if (v === '' || v === '1' || v.toLowerCase() === 'true') return true;
  if (v === '0' || v.toLowerCase() === 'false') return false;
  throw new Error(`invalid boolean ${JSON.stringify(v)}`);
}

function parseInt64(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!/^-?\d+$/.test(v)) throw new Error(`${name}: invalid integer ${JSON.stringify(v)}`);
  return Number(v);
}

export type ParsedLogOptions = { options: LogOptions } | { status: 400 | 422; message: string };

/** v1.PodLogOptions from the query, validated as the kubelet does (ValidatePodLogOptions). */
export function parseLogOptions(q: URLSearchParams, now = Date.now()): ParsedLogOptions {
  let follow: boolean | undefined, previous: boolean | undefined, timestamps: boolean | undefined;
  let tailLines: number | undefined, sinceSeconds: number | undefined, limitBytes: number | undefined;
  let sinceTime: number | undefined;
  try {
    follow = parseBool(q.get('follow'));
    previous = parseBool(q.get('previous'));
    timestamps = parseBool(q.get('timestamps'));
    const tail = q.get('tail'); // the kubelet's backwards-compatible spelling; "all" means no limit
    tailLines = tail !== null ? (tail === 'all' ? undefined : parseInt64(new URLSearchParams({ t: tail }), 't')) : parseInt64(q, 'tailLines');
    sinceSeconds = parseInt64(q, 'sinceSeconds');
    limitBytes = parseInt64(q, 'limitBytes');
    const st = q.get('sinceTime');
    if (st !== null) {
      sinceTime = Date.parse(st);
      if (Number.isNaN(sinceTime)) throw new Error(`sinceTime: invalid RFC 3339 time ${JSON.stringify(st)}`);
    }
  } catch (err) {
    return { status: 400, message: `Unable to decode query: ${errorMessage(err)}` };
  }
  if (tailLines !== undefined && tailLines < 0) return { status: 422, message: 'tailLines: must be greater than or equal to 0' };
  if (limitBytes !== undefined && limitBytes < 1) return { status: 422, message: 'limitBytes: must be greater than 0' };
  if (sinceSeconds !== undefined && sinceSeconds < 1) return { status: 422, message: 'sinceSeconds: must be greater than 0' };
  if (sinceSeconds !== undefined && sinceTime !== undefined) {
    return { status: 422, message: 'at most one of sinceTime or sinceSeconds may be specified' };
  }
  const stream = q.get('stream');
  if (stream !== null && stream !== 'All') {
    return { status: 422, message: `stream=${stream}: this kubelet keeps one combined log per container (use All)` };
  }
  if (sinceTime !== undefined) sinceSeconds = Math.max(1, Math.ceil((now - sinceTime) / 1000));
  const options: LogOptions = { follow: follow ?? false, previous: previous ?? false, timestamps: timestamps ?? false };
  if (tailLines !== undefined) options.tailLines = tailLines;
  if (sinceSeconds !== undefined) options.sinceSeconds = sinceSeconds;
  if (limitBytes !== undefined) options.limitBytes = limitBytes;
  return { options };
}

function plain(res: ServerResponse, code: number, message: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(message) + 1 });
  res.end(`${message}\n`);
}

export async function handleContainerLogs(
  req: IncomingMessage,
  res: ServerResponse,
  ref: ContainerRef,
  url: URL,
  runtime: ContainerRuntime,
  log: Log,
): Promise<void> {
  const parsed = parseLogOptions(url.searchParams);
  if ('message' in parsed) return plain(res, parsed.status, parsed.message);
  const opts = parsed.options;

  let source: NodeJS.ReadableStream;
  try {
    source = await runtime.logs(ref, opts);
  } catch (err) {
    let code = runtimeErrorCode(err);
    // A real kubelet answers 404 only for an unknown pod or container; a missing previous instance is an error of
    // GetKubeletContainerLogs, which it reports as 400. kube-apiserver keeps a 400's message for the user
    // ("previous terminated container ... not found") but replaces a 404's with a generic one.
    if (code === 404 && opts.previous && /previous/i.test(errorMessage(err))) code = 400;
    log(`kubelet: logs ${describe(ref)}: ${code} ${errorMessage(err)}`);
    return plain(res, code, errorMessage(err));
  }
  if (res.destroyed || req.destroyed) {
    stop(source);
    return;
  }

  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.flushHeaders();
  let remaining = opts.limitBytes ?? Infinity;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    source.removeListener('data', onData);
    stop(source);
    if (!res.writableEnded) res.end();
  };
  const onData = (chunk: Buffer | string) => {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (buf.length > remaining) buf = buf.subarray(0, remaining);
    remaining -= buf.length;
    if (buf.length && !res.write(buf)) {
      source.pause();
      res.once('drain', () => source.resume());
    }
    if (remaining <= 0) finish();
  };
  source.on('data', onData);
  source.on('end', finish);
  source.on('error', (err: Error) => {
    log(`kubelet: logs ${describe(ref)}: source failed: ${err.message}`);
    finish();
  });
  res.on('close', () => {
    // The client went away (e.g. Ctrl-C on `kubectl logs -f`): stop following.
    if (!finished) {
      finished = true;
      stop(source);
    }
  });
}

function stop(source: NodeJS.ReadableStream): void {
  const s = source as NodeJS.ReadableStream & { destroy?: () => void };
  if (typeof s.destroy === 'function') s.destroy();
  else source.pause();
}
