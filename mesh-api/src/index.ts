// @ambit/mesh-api: the contract between the control plane and the runtimes (ztunnel, waypoint). The mesh model
// (what ztunnel receives as WDS/RBAC), the config stream's wire messages and the delta code both ends share, the
// runtimes' clients of the controller's :15012 (config stream and CA), SPIFFE identities and X.509, HBONE, and the
// admin HTTP server every process's admin/stats/health ports run on, and the one indexed store of the model
// (`MeshStore`, also alone at `@ambit/mesh-api/model`).
//
// HBONE (for the runtimes):
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
export * from './model/index.js';
export type * from './model/authorization-policy.js';
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
  issueServingCertificate,
  type CertificateAuthority,
  type ServingCertificate,
} from './identity/x509.js';
export {
  CertificateManager,
  LocalCA,
  secureContextOf,
  secureContextOptions,
  type CertificateSource,
  type WorkloadCertificate,
  type CertificateManagerOptions,
  type CertificateDump,
  type CertificateInfo,
} from './identity/manager.js';
export { HboneClient, openHboneSession, defaultSocketFactory, bindingSocketFactory, type SocketFactory, type HboneConnectRequest, type HboneClientOptions } from './hbone/client.js';
export { HboneServer, type HboneTunnel, type HboneServerOptions } from './hbone/server.js';
export { HboneError, type HboneFailure } from './hbone/errors.js';
export { formatForwarded, forwardedParam, forwardedFor } from './hbone/forwarded.js';
export { formatAuthority, parseAuthority, STREAM_WINDOW, CONNECTION_WINDOW, MAX_FRAME_SIZE, MAX_STREAMS_PER_CONNECTION } from './hbone/h2.js';
export { SessionPool, poolKeyString, type PoolKey, type PoolOptions } from './pool/pool.js';
export * from './log/index.js';
export * from './config-stream/index.js';
export * from './plumbing/index.js';
export * from './routes/index.js';
export * from './admin/index.js';
export * from './metrics/index.js';
