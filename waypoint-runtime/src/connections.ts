// Connection tracking and drain: the connections handed to the waypoint by serve() (HBONE tunnels), which of them
// carry an HTTP/2 session, how many requests are in flight on each and in all, and the graceful drain (idle
// tunnels end now, busy ones after their last response, HTTP/2 sessions get GOAWAY, the rest is cut at the
// deadline). Node's HTTP server tracks idle connections only once it listens itself, so the drain ends these on
// its own.

import type { IncomingMessage, Server } from 'node:http';
import type { Http2ServerRequest, ServerHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';

/** Resolves once `conn` has finished writing (or closed), or after `ms`. */
export function writtenOut(conn: Duplex, ms: number): Promise<void> {
  if (conn.writableFinished || conn.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      conn.off('finish', done);
      conn.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    conn.once('finish', done);
    conn.once('close', done);
  });
}

export class ServedConnections {
  #draining = false;
  #inflight = 0;
  /** Connections handed in by serve(), with their requests in flight. */
  readonly #served = new Map<Duplex, number>();
  /** Served connections that speak HTTP/2: connection -> session, and a request's session -> its connection. */
  readonly #sessions = new Map<Duplex, ServerHttp2Session>();
  readonly #sessionConn = new WeakMap<object, Duplex>();

  get draining(): boolean {
    return this.#draining;
  }

  /** Requests in flight on every listener (served connections and the plain listener alike). */
  get inflight(): number {
    return this.#inflight;
  }

  /** Track a connection handed in by serve() until it closes. */
  add(conn: Duplex): void {
    this.#served.set(conn, 0);
    conn.once('close', () => {
      this.#served.delete(conn);
      this.#sessions.delete(conn);
    });
  }

  /** `conn` turned out to speak HTTP/2; a session accepted while draining gets GOAWAY at once. */
  addSession(conn: Duplex, session: ServerHttp2Session): void {
    this.#sessionConn.set(session, conn);
    this.#sessions.set(conn, session);
    if (this.#draining) session.close();
  }

  /**
   * Count a request in flight until the returned function is called (once). While draining, a served connection
   * whose last request ends is ended.
   */
  begin(raw: IncomingMessage): () => void {
    this.#inflight++;
    const conn = raw.httpVersionMajor === 2 ? this.#sessionConn.get((raw as unknown as Http2ServerRequest).stream.session!)! : (raw.socket as unknown as Duplex);
    const served = this.#served.get(conn);
    if (served !== undefined) this.#served.set(conn, served + 1);
    return () => {
      this.#inflight--;
      const n = this.#served.get(conn);
      if (n !== undefined) {
        this.#served.set(conn, n - 1);
        if (this.#draining && n === 1) this.#end(conn);
      }
    };
  }

  /** From now on the waypoint is draining (readiness fails, responses carry `connection: close`). */
  startDrain(): void {
    this.#draining = true;
  }

  /**
   * Drain `server` (the plain HTTP server that also reads the HTTP/1.1 tunnels) and the served connections:
   * in-flight requests get up to `graceMs` to finish, then every connection is closed.
   */
  async drain(server: Server, graceMs: number): Promise<void> {
    this.#draining = true;
    server.closeIdleConnections?.();
    // Idle tunnels (a client's keep-alive connection) end now; busy ones after their last response. HTTP/2
    // sessions get GOAWAY now either way (their open streams finish).
    for (const [conn, n] of this.#served) if (n === 0 || this.#sessions.has(conn)) this.#end(conn);
    const deadline = Date.now() + graceMs;
    while (this.#inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Connections being ended write out their last bytes (an HTTP/2 session its GOAWAY) before the rest is cut.
    const ending = [...this.#served.keys()].filter((c) => c.writableEnded || this.#sessions.has(c));
    await Promise.all(ending.map((c) => writtenOut(c, deadline - Date.now())));
    server.closeAllConnections?.();
    for (const conn of this.#served.keys()) conn.destroy();
  }

  /** End a served connection gracefully: HTTP/2 sends GOAWAY and lets open streams finish. */
  #end(conn: Duplex): void {
    const session = this.#sessions.get(conn);
    if (session) session.close();
    else conn.end();
  }
}
