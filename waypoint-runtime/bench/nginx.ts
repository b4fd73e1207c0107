// The nginx reverse-proxy peer of the waypoint bench, so the waypoint's capacity, CPU and memory are read next to a
// C proxy doing the same job in the same run. Debian's binary (scripts/nginx.sh fetches it into $AMBIT_CACHE; NGINX
// overrides it), one process (`master_process off`: CPU and RSS come from one pid), the same plain HTTP path, the
// same upstream and the same number of keep-alive upstream connections as the waypoint; no access log (the
// waypoint's goes nowhere in the bench). Never throws: when nginx cannot be had it says why.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NginxPeer {
  child: ChildProcess;
  port: number;
  version: string;
  stop(): void;
}

function binary(script: string): { bin?: string; why?: string } {
  if (process.env.NGINX) return existsSync(process.env.NGINX) ? { bin: process.env.NGINX } : { why: `NGINX=${process.env.NGINX} does not exist` };
  const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 180_000 });
  const bin = r.stdout?.trim().split('\n').pop();
  if (r.status === 0 && bin && existsSync(bin)) return { bin };
  return { why: (r.stderr?.trim().split('\n').pop() || r.error?.message) ?? `${script} exited ${r.status}` };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function config(dir: string, port: number, upstreamPort: number, upstreamConnections: number): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive ${upstreamConnections};
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

async function listening(port: number, child: ChildProcess): Promise<boolean> {
  for (let i = 0; i < 50 && child.exitCode === null; i++) {
    if (await canConnect(port)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** Starts the peer in front of 127.0.0.1:upstreamPort, or returns why it could not. */
export async function startNginx(script: string, upstreamPort: number, upstreamConnections: number): Promise<NginxPeer | { unavailable: string }> {
  const { bin, why } = binary(script);
  if (!bin) return { unavailable: why ?? 'not found' };
  const version = (spawnSync(bin, ['-v'], { encoding: 'utf8' }).stderr ?? '').trim().replace(/^nginx version: /, '');
  const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-nginx-'));
  const stop = (child?: ChildProcess) => {
    child?.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await freePort();
    writeFileSync(join(dir, 'nginx.conf'), config(dir, port, upstreamPort, upstreamConnections));
    const child = spawn(bin, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
    child.on('error', () => undefined);
    if (!(await listening(port, child))) {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8').trim().split('\n').pop() : '';
      stop(child);
      return { unavailable: `${bin} did not start listening${log ? `: ${log}` : ''}` };
    }
    return { child, port, version, stop: () => stop(child) };
  } catch (e) {
    stop();
    return { unavailable: (e as Error).message };
  }
}
