// TLS passthrough on an ingress port: the ClientHello's SNI picks the listener and, through its routes
// (TLSRoute, VirtualService `tls`), the backend; the raw stream (handshake included) is relayed to an endpoint of
// it, over HBONE when the endpoint is captured, plain otherwise. The gateway never decrypts it, so it goes to the
// endpoint directly, not through a waypoint (which takes HTTP). No listener or route for the SNI: closed.

import type { Socket } from 'node:net';
import type { IngressListener } from '@ambit/mesh-api';
import type { Backend, Logger } from '@ambit/plugin-sdk';
import type { UpstreamConnector } from '../upstream/connector.js';
import { readClientHello } from './client-hello.js';
import { pickListener, type PortPlan } from './select.js';

export interface PassthroughDeps {
  connector: UpstreamConnector;
  logger: Logger;
  /** The routed backend (endpoint chosen) for `sni` on `listener`, if a route takes it. */
  route(listener: IngressListener, sni: string): { route: string; backend: Backend } | undefined;
  /** ClientHello deadline. */
  helloTimeoutMs: number;
}

export async function relayPassthrough(socket: Socket, plan: PortPlan, deps: PassthroughDeps): Promise<void> {
  const hello = await readClientHello(socket, deps.helloTimeoutMs);
  if (!hello) return;
  const listener = pickListener(plan.listeners, hello.sni);
  const routed = listener && deps.route(listener, hello.sni);
  const ep = routed?.backend.endpoint;
  if (!ep) {
    deps.logger.debug('passthrough refused', { port: plan.targetPort, sni: hello.sni, reason: listener ? 'no route' : 'no listener' });
    socket.destroy();
    return;
  }
  let upstream;
  try {
    upstream = await deps.connector.connect(ep);
  } catch (err) {
    deps.logger.debug('passthrough upstream failed', { route: routed.route, endpoint: `${ep.address}:${ep.port}`, error: (err as Error).message });
    socket.destroy();
    return;
  }
  const close = () => {
    socket.destroy();
    upstream.destroy();
  };
  upstream.on('error', close);
  socket.on('error', close);
  upstream.on('close', () => socket.destroy());
  socket.on('close', () => upstream.destroy());
  upstream.write(hello.head);
  socket.pipe(upstream);
  upstream.pipe(socket);
  socket.resume();
}
