// The kubelet's HTTPS endpoint on a virtual node: TLS with client certificates from the cluster CA (kube-apiserver
// presents --kubelet-client-certificate), then the handful of kubelet routes kube-apiserver proxies to.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ContainerRef, ContainerRuntime } from '../node/runtime.js';
import { handleExecUpgrade, refuseUpgrade, writeRawResponse, type ExecContext } from './exec.js';
import { handleContainerLogs } from './logs.js';
import { handleWebSocketExec, isWebSocketUpgrade } from './ws-exec.js';
import { handlePortForwardUpgrade } from './portforward.js';
import { describe, parseRoute, portForwardTarget } from './routes.js';
import { errorMessage, runtimeErrorCode, wireExitCode } from './status.js';

export type Log = (line: string) => void;

export type KubeletTLS =
  | { cert: string; key: string; ca: string }
  | { certFile: string; keyFile: string; caFile: string };

export interface KubeletServerOptions {
  host: string;
  /** 0 picks a free port; the returned handle says which. */
  port: number;
  /** PEM strings, or the files holding them. `ca` verifies client certificates. */
  tls: KubeletTLS;
  runtime: ContainerRuntime;
  log: Log;
  /** Used in log lines only. */
  nodeName?: string;
  /** Optional: lets /exec answer 404 for an unknown pod/container before upgrading, as a real kubelet does. */
  hasContainer?: (ref: ContainerRef) => boolean | Promise<boolean>;
}

export interface KubeletServer {
  port: number;
  close(): Promise<void>;
}

function pems(tls: KubeletTLS): { cert: string; key: string; ca: string } {
  if ('cert' in tls) return tls;
  return { cert: readFileSync(tls.certFile, 'utf8'), key: readFileSync(tls.keyFile, 'utf8'), ca: readFileSync(tls.caFile, 'utf8') };
}

function text(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The client presented a certificate that chains to the cluster CA. */
function authenticated(socket: Socket): { ok: true; who: string } | { ok: false; why: string } {
  const tls = socket as TLSSocket;
  if (tls.authorized) {
    const cn = tls.getPeerCertificate?.()?.subject?.CN;
    return { ok: true, who: Array.isArray(cn) ? cn.join(',') : (cn ?? 'unknown') };
  }
  const why = tls.authorizationError ? String(tls.authorizationError) : 'no client certificate';
  return { ok: false, why: why === 'UNABLE_TO_GET_ISSUER_CERT' ? 'no client certificate' : why };
}

export async function startKubeletServer(opts: KubeletServerOptions): Promise<KubeletServer> {
  const { runtime } = opts;
  const prefix = opts.nodeName ? `[kubelet ${opts.nodeName}] ` : '';
  const log: Log = (line) => opts.log(`${prefix}${line.replace(/^kubelet: /, 'kubelet: ')}`);
  const execCtx: ExecContext = { runtime, log, hasContainer: opts.hasContainer };
  const sockets = new Set<Socket>();

  const server: Server = createServer({
    ...pems(opts.tls),
    requestCert: true,
    rejectUnauthorized: false, // checked per request so an unauthenticated client gets a 401, not a TLS alert
    minVersion: 'TLSv1.2',
  });
  server.keepAliveTimeout = 60_000;

  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', (err, socket) => {
    log(`kubelet: TLS handshake with ${(socket as TLSSocket).remoteAddress} failed: ${err.message}`);
  });
  server.on('clientError', (err, socket) => {
    log(`kubelet: bad request from ${(socket as Socket).remoteAddress}: ${err.message}`);
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const auth = authenticated(req.socket);
    if (!auth.ok) {
      log(`kubelet: 401 ${req.method} ${req.url?.split('?')[0]} from ${req.socket.remoteAddress}: ${auth.why}`);
      return text(res, 401, 'Unauthorized');
    }
    handleRequest(req, res).catch((err: Error) => {
      log(`kubelet: ${req.method} ${req.url?.split('?')[0]} failed: ${err.stack ?? err.message}`);
      if (!res.headersSent) text(res, 500, `internal error: ${err.message}`);
      else res.destroy();
    });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    // The peer hanging up mid-write (EPIPE, ECONNRESET) is how connections end; anything else is worth a line.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') log(`kubelet: upgrade connection from ${socket.remoteAddress}: ${err.message}`);
    });
    const auth = authenticated(socket);
    if (!auth.ok) {
      log(`kubelet: 401 ${req.method} ${req.url?.split('?')[0]} (upgrade) from ${socket.remoteAddress}: ${auth.why}`);
      return writeRawResponse(socket, 401, 'Unauthorized');
    }
    handleUpgrade(req, socket, head).catch((err: Error) => {
      log(`kubelet: upgrade ${req.url?.split('?')[0]} failed: ${err.stack ?? err.message}`);
      socket.destroy();
    });
  });

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const route = parseRoute(url.pathname);
    const method = req.method ?? 'GET';
    switch (route.verb) {
      case 'healthz':
        if (url.pathname !== '/healthz') break;
        return text(res, 200, 'ok');
      case 'containerLogs':
        if (!route.ref) break;
        if (method !== 'GET' && method !== 'HEAD') return text(res, 405, `${method} is not allowed on /containerLogs`);
        return handleContainerLogs(req, res, route.ref, url, runtime, log);
      case 'exec':
        if (!route.ref) break;
        // Not an upgrade request: the kubelet's upgrade-aware handler says the same.
        return text(res, 400, 'Upgrade request required');
      case 'run':
        if (!route.ref) break;
        if (method !== 'POST') return text(res, 405, `${method} is not allowed on /run`);
        return handleRun(res, route.ref, url);
      case 'attach':
        if (!route.ref) break;
        return text(res, 501, 'attach is not supported by this kubelet');
      case 'portForward':
        if (!portForwardTarget(url.pathname)) break;
        return text(res, 400, 'Upgrade request required');
    }
    text(res, 404, '404 page not found');
  }

  async function handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const route = parseRoute(url.pathname);
    if (route.verb === 'exec' && route.ref) {
      if (req.method !== 'GET' && req.method !== 'POST') return refuseUpgrade(socket, 405, `${req.method} is not allowed on /exec`);
      if (isWebSocketUpgrade(req)) return handleWebSocketExec(req, socket, head, route.ref, url, execCtx);
      return handleExecUpgrade(req, socket, head, route.ref, url, execCtx);
    }
    if (route.verb === 'portForward') {
      const pod = portForwardTarget(url.pathname);
      if (pod) {
        if (req.method !== 'GET' && req.method !== 'POST') return refuseUpgrade(socket, 405, `${req.method} is not allowed on /portForward`);
        return handlePortForwardUpgrade(req, socket, head, pod, runtime, log);
      }
    }
    if (route.verb === 'attach') return refuseUpgrade(socket, 501, 'attach is not supported by this kubelet');
    writeRawResponse(socket, 404, '404 page not found');
  }

  /** POST /run/{ns}/{pod}/{container}?cmd=a+b: the command's combined output as the body (a legacy kubelet API). */
  async function handleRun(res: ServerResponse, ref: ContainerRef, url: URL): Promise<void> {
    const cmd = (url.searchParams.get('cmd') ?? '').split(' ').filter((s) => s !== '');
    if (cmd.length === 0) return text(res, 400, 'you must specify a command (cmd=...)');
    const chunks: Buffer[] = [];
    const { Writable } = await import('node:stream');
    const sink = () =>
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          chunks.push(Buffer.from(chunk));
          cb();
        },
      });
    try {
      const code = await runtime.exec(ref, cmd, { stdout: sink(), stderr: sink(), tty: false });
      log(`kubelet: run ${describe(ref)} ${cmd[0]} exited ${code}`);
      if (code !== 0) return text(res, 500, `command terminated with non-zero exit code: ${wireExitCode(code)}\n${Buffer.concat(chunks).toString()}`);
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(Buffer.concat(chunks));
    } catch (err) {
      const code = runtimeErrorCode(err);
      text(res, code, errorMessage(err));
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log(`kubelet: server error: ${err.message}`));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  log(`kubelet: serving https://${opts.host}:${port} (healthz, containerLogs, run, exec over SPDY/3.1 v4/v3/v2.channel.k8s.io and WebSocket v5/v4.channel.k8s.io, portForward over SPDY/3.1 or its WebSocket tunnel)`);

  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
      }),
  };
}
