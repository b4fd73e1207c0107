// Holds N idle HBONE tunnels open to a waypoint, so the bench can read what one open tunnel costs in its RSS.
// Counts only tunnels the waypoint answered 200 and that are still open: a refused or closed one costs nothing.

import type { ClientHttp2Stream } from 'node:http2';
import type { HboneClient, WorkloadCertificate } from '@ambit/mesh-api';

export interface HeldTunnels {
  open(): number;
  release(): void;
}

export async function holdTunnels(client: HboneClient, port: number, authority: string, identity: string, certificate: WorkloadCertificate, n: number): Promise<HeldTunnels> {
  const held = new Set<ClientHttp2Stream>();
  const all: ClientHttp2Stream[] = [];
  for (let i = 0; i < n; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, () =>
        client.connect({ nextHop: { host: '127.0.0.1', port }, authority, expectedIdentities: [identity], certificate }).then(
          (s) => {
            all.push(s);
            held.add(s);
            s.on('error', () => undefined);
            s.once('close', () => held.delete(s));
          },
          () => undefined,
        ),
      ),
    );
  }
  return {
    open: () => held.size,
    release: () => {
      for (const s of all) s.destroy();
    },
  };
}
