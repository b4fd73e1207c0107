// ZDS: the node agent hands each pod's network namespace (an fd, SCM_RIGHTS) to ztunnel over a Unix SEQPACKET socket.
// Protocol and design: README.md in this folder.
export { ZdsServer, ZdsNotConnectedError, type ZdsServerOptions } from './server.js';
export { ZdsClient, type ZdsClientHooks, type ZdsClientOptions } from './client.js';
export {
  ZDS_VERSION,
  MAX_MESSAGE_BYTES,
  DEFAULT_ZDS_SOCKET,
  ZdsProtocolError,
  type WorkloadInfo,
  type AgentMessage,
  type ZtunnelMessage,
} from './protocol.js';
