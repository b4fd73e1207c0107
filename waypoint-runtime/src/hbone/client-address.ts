// Which client address a tunnel is attributed to. A source ztunnel opens its CONNECT with the source workload's
// own certificate (it impersonates the workloads of its node) and names the workload's address in
// `forwarded: for=`. Any pod can hold a mesh certificate and send that header too, so it is believed only when
// the identity vouches for it: the peer is a trusted node account (Istio's CA_TRUSTED_NODE_ACCOUNTS,
// `istio-system/ztunnel`), or the address is a workload that runs as the peer's own identity (what a ztunnel
// acting for that workload presents). Otherwise the tunnel's TCP peer address is the client address.

import { forwardedFor } from '@ambit/mesh-api';
import { parseSpiffe, spiffeId, type MeshStateReader } from '@ambit/plugin-sdk';

/** Istio's CA_TRUSTED_NODE_ACCOUNTS default: the accounts that act for the workloads of their node. */
export const DEFAULT_TRUSTED_NODE_ACCOUNTS = ['istio-system/ztunnel'];

export interface ClientAddress {
  address: string;
  port: number;
  /** Whether the `forwarded` header was believed. */
  fromForwarded: boolean;
  /** Why a `forwarded` header was ignored (for a debug log). */
  ignored?: string;
}

export interface TunnelPeer {
  peerIdentity?: string;
  headers: Record<string, string | string[] | undefined>;
  remoteAddress: string;
  remotePort: number;
}

export function clientAddressOf(t: TunnelPeer, mesh: MeshStateReader, trustedNodeAccounts: ReadonlySet<string>): ClientAddress {
  const tcp: ClientAddress = { address: t.remoteAddress, port: t.remotePort, fromForwarded: false };
  const header = t.headers.forwarded;
  if (header === undefined) return tcp;
  const fwd = forwardedFor(header);
  if (!fwd) return { ...tcp, ignored: 'forwarded header is not for=ip[:port]' };
  const claimed: ClientAddress = { address: fwd.address, port: fwd.port ?? t.remotePort, fromForwarded: true };
  const id = parseSpiffe(t.peerIdentity);
  if (id && trustedNodeAccounts.has(`${id.namespace}/${id.serviceAccount}`)) return claimed;
  const w = mesh.workloadByAddress(fwd.address);
  if (w && spiffeId(w) === t.peerIdentity) return claimed;
  return { ...tcp, ignored: w ? 'forwarded address belongs to a workload of another identity' : 'forwarded address is not a workload of the mesh' };
}
