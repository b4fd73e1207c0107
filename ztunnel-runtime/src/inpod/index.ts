// In-pod traffic capture (Istio's istio-cni in-pod redirection + ztunnel's in-netns listeners):
//   netns      open a pod's netns, create sockets in it, SO_ORIGINAL_DST, SO_MARK, the pod socket factory
//   iptables   the in-pod rules (apply / remove / list), HEAD REDIRECT variant
//   listeners  15001 / 15006 / 15008 inside the pod's netns -> callbacks
//   enrollment which pods are captured (pure), node-agent: the controller that enrolls/un-enrolls them
//
// Wiring sketch (ztunnel main):
//   const proxies = new Map<string, { listeners: PodProxyListeners }>();
//   const agent = new NodeAgent({ nodeName: process.env.NODE_NAME!, kubeConfig, hooks: {
//     async onPodAdded(pod, netns) {
//       const socketFactory = createPodSocketFactory(netns);           // marked, created in the pod netns
//       const listeners = await PodProxyListeners.start(netns, {
//         onOutbound: ({ socket, originalDst }) => outbound.handle(socket, originalDst, pod),
//         onInbound: ({ socket, originalDst }) => inbound.handlePlaintext(socket, originalDst, pod),
//         onHboneSocket: (socket) => hboneServerFor(pod).emit('connection', socket),
//       }, { logFields: `uid=${pod.uid}` });
//       proxies.set(pod.uid, { listeners });
//     },
//     async onPodRemoved(uid) { await proxies.get(uid)?.listeners.close(); proxies.delete(uid); },
//   }});
//   await agent.start();
export {
  NETNS_DIR,
  NETNS_PREFIX,
  INPOD_MARK,
  Netns,
  podNetnsPath,
  currentNetnsInode,
  runInNetns,
  createTcpSocketFd,
  listenInNetns,
  connectInNetns,
  createPodSocketFactory,
  getOriginalDst,
  setSocketMark,
  getSocketMark,
  socketNetnsInode,
  socketFd,
  unmapV4,
  type TcpSocketOptions,
  type ListenOptions,
  type PodConnectOptions,
  type PodSocketFactory,
  type PodSocketFactoryOptions,
  type SocketAddress,
} from './netns.js';
export {
  DEFAULT_INPOD_RULES,
  renderRules,
  applyRules,
  removeRules,
  listRules,
  rulesMatch,
  type InpodRulesConfig,
  type InstalledRules,
  type Table,
} from './iptables.js';
export {
  PodProxyListeners,
  DEFAULT_PORTS,
  type CapturedConnection,
  type PodProxyHandlers,
  type PodProxyPorts,
  type PodProxyListenersOptions,
} from './listeners.js';
export {
  DATAPLANE_MODE_LABEL,
  REDIRECTION_ANNOTATION,
  SIDECAR_STATUS_ANNOTATION,
  enrollmentDecision,
  podMarkedEnrolled,
  podIp,
  redirectionPatch,
  type PodLike,
  type NamespaceLike,
  type EnrollmentDecision,
  type EnrollmentReason,
} from './enrollment.js';
export {
  NodeAgent,
  EnrollmentError,
  kubeAnnotator,
  realDataplane,
  type EnrolledPod,
  type NodeAgentHooks,
  type NodeAgentOptions,
  type Dataplane,
  type PodAnnotator,
  type SandboxInfo,
} from './node-agent.js';
