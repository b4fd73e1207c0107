// HTTP/1.1 requests that ask to switch protocols (WebSocket) take Fastify's routes like any other request: Node's
// server hands them over with their connection detached; the request is routed with a response bound to that
// connection, and the connection is kept for the handler (upgradeOf). A reply that is not a switch ends the
// connection once sent. `Upgrade: h2c` is not taken: that request is served as plain HTTP/1.1 (Envoy's default).

import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface Upgrade {
  /** The client connection, no longer read by the HTTP server. */
  socket: Duplex;
  /** Bytes the client sent after the request head. */
  head: Buffer;
}

const upgrades = new WeakMap<object, Upgrade>();

export function upgradeOf(req: object): Upgrade | undefined {
  return upgrades.get(req);
}

/** Node's `shouldUpgradeCallback`: an upgrade to anything but h2c is an upgrade. */
export function shouldUpgrade(req: IncomingMessage): boolean {
  const tokens = (req.headers.upgrade ?? '').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
  return tokens.some((t) => t !== 'h2c');
}

export function routeUpgrades(server: Server, routing: (req: IncomingMessage, res: ServerResponse) => void): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // The HTTP server no longer listens for this connection's errors; a reset must not surface as uncaught.
    socket.on('error', () => undefined);
    upgrades.set(req, { socket, head });
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => socket.end());
    routing(req, res);
  });
}
