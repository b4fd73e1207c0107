// @ambit/ztunnel-runtime: the per-node L4 proxy (ztunnel). What it shares with the controller and the waypoint
// (the mesh model, the config stream, identities, HBONE) is @ambit/mesh-api.
export { parseLocalConfig, loadLocalConfig, LocalConfigError } from './state/local.js';
export { evaluateRbac, policyMatches, type RbacConnection, type RbacResult } from './rbac/evaluate.js';
export { cidrContains } from '@ambit/mesh-api';
export { Metrics, LABEL_NAMES, renderLabels, type TrafficLabels } from './telemetry/metrics.js';
export { formatAccessFields, logConnectionComplete, type AccessLogEntry } from './telemetry/accesslog.js';
export { AdminServers, type AdminHandlers } from './admin/server.js';
export { parseZtunnelConfig, loadZtunnelConfig, parseHostPort, type ZtunnelConfig, type ExplicitWorkload } from './config/config.js';
export { ProxyContext, defaultSettings, type ProxySettings } from './proxy/context.js';
export { buildOutboundRequest, handleOutbound, pickEndpoint, resolveGateway, baggageOf, OutboundError, type OutboundRequest, type OutboundOptions } from './proxy/outbound.js';
export { InboundProxy, type InboundOptions } from './proxy/inbound.js';
export { splice, type CopyOwner, type CopyResult } from './proxy/copy.js';
export { socks5Handshake } from './proxy/socks5.js';
export { Ztunnel, type ZtunnelOptions, type ZtunnelPorts } from './ztunnel.js';
