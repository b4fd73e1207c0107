// @ambit/ztunnel-runtime: the per-node L4 proxy (ztunnel) and the pieces other runtimes reuse.
//
// HBONE (for the waypoint runtime):
//   const certs = new CertificateManager(new LocalCA(createRootCA()));     // or any CertificateSource
//   const cert = await certs.get('spiffe://cluster.local/ns/ns1/sa/waypoint');
//   // server: accept tunnels, see who is calling and where they want to go
//   const server = new HboneServer({ certificate: cert, onTunnel: (t) => {
//     t.peerIdentity;            // 'spiffe://cluster.local/ns/default/sa/client'
//     t.authority;               // '10.96.0.12:80'
//     const duplex = t.accept(); // sends 200; or t.reject(401) / t.reject(503)
//   }});
//   await server.listen(15008, '0.0.0.0');  server.setCertificate(renewed);  await server.close();
//   // client: pooled mTLS HTTP/2 CONNECT; resolves after the peer's 200, rejects with HboneError(status)
//   const client = new HboneClient({ socketFactory });   // socketFactory optional (in-pod: netns + mark)
//   const tunnel = await client.connect({ nextHop: { host: '10.244.1.7', port: 15008 }, authority: '10.244.1.7:9080',
//     expectedIdentities: ['spiffe://cluster.local/ns/default/sa/details'], certificate: cert, headers: { baggage } });
//   tunnel is a Duplex (http2 stream): write/pipe, end() half-closes.
export * from './state/types.js';
export * from './identity/spiffe.js';
export {
  createRootCA,
  createIntermediateCA,
  loadCA,
  createCsr,
  signCsr,
  parseCsr,
  certificateUris,
  splitPemChain,
  type CertificateAuthority,
} from './identity/x509.js';
export {
  CertificateManager,
  LocalCA,
  secureContextOf,
  secureContextOptions,
  type CertificateSource,
  type WorkloadCertificate,
  type CertificateManagerOptions,
} from './identity/manager.js';
export { HboneClient, openHboneSession, defaultSocketFactory, bindingSocketFactory, type SocketFactory, type HboneConnectRequest, type HboneClientOptions } from './hbone/client.js';
export { HboneServer, type HboneTunnel, type HboneServerOptions } from './hbone/server.js';
export { HboneError, type HboneFailure } from './hbone/errors.js';
export { formatAuthority, parseAuthority, STREAM_WINDOW, CONNECTION_WINDOW, MAX_FRAME_SIZE, MAX_STREAMS_PER_CONNECTION } from './hbone/h2.js';
export { SessionPool, poolKeyString, type PoolKey, type PoolOptions } from './pool/pool.js';
export { logger, setLogSink, setLogLevel, type Logger } from './log.js';
export * from './xds/index.js';
export { MeshStore, splitNetworkAddress, type ChangeEvent, type MeshDelta, type MeshRemovals, type Endpoint } from './state/store.js';
export { parseLocalConfig, loadLocalConfig, LocalConfigError } from './state/local.js';
export { evaluateRbac, policyMatches, isEmptyMatch, type RbacConnection, type RbacResult } from './rbac/evaluate.js';
export { cidrContains } from './rbac/cidr.js';
export {
  convertAuthorizationPolicy,
  type AuthorizationPolicyObject,
  type AuthorizationPolicySpec,
  type AuthorizationRule,
  type ConversionResult,
  type ConversionWarning,
} from './rbac/convert.js';
export { Metrics, LABEL_NAMES, renderLabels, type TrafficLabels } from './telemetry/metrics.js';
export { formatAccessFields, logConnectionComplete, type AccessLogEntry } from './telemetry/accesslog.js';
export { AdminServers, type AdminHandlers } from './admin/server.js';
export { parseZtunnelConfig, loadZtunnelConfig, parseHostPort, type ZtunnelConfig, type ExplicitWorkload } from './config/config.js';
export { ProxyContext, defaultSettings, type ProxySettings } from './proxy/context.js';
export { buildOutboundRequest, handleOutbound, pickEndpoint, resolveGateway, baggageOf, OutboundError, type OutboundRequest, type OutboundOptions } from './proxy/outbound.js';
export { InboundProxy, type InboundOptions } from './proxy/inbound.js';
export { copyBidirectional } from './proxy/copy.js';
export { socks5Handshake } from './proxy/socks5.js';
export { Ztunnel, type ZtunnelOptions, type ZtunnelPorts } from './ztunnel.js';
