// In-pod traffic capture (Istio's istio-cni in-pod redirection + ztunnel's in-netns listeners):
//   netns      open a pod's netns, create sockets in it, SO_ORIGINAL_DST, SO_MARK, the pod socket factory
//   iptables   the in-pod rules (apply / remove / list), HEAD REDIRECT variant
//   listeners  15001 / 15006 / 15008 inside the pod's netns -> callbacks
//   enrollment which pods are captured (pure), node-agent: the controller that enrolls/un-enrolls them
//
// Wiring sketch. ztunnel's side (src/node does this): each pod arrives over ZDS with its netns fd.
//   const zds = new ZdsClient({ socketPath, hooks: {
//     async onPodAdded(info, netns) {
//       const socketFactory = createPodSocketFactory(netns);           // marked, created in the pod netns
//       const listeners = await PodProxyListeners.start(netns, {
//         onOutbound: ({ socket, originalDst }) => outbound.handle(socket, originalDst, info),
//         onInbound: ({ socket, originalDst }) => inbound.handlePlaintext(socket, originalDst, info),
//         onHboneSocket: (socket) => hboneServerFor(info).emit('connection', socket),
//       }, { logFields: `uid=${info.uid}` });
//       proxies.set(info.uid, { listeners });
//     },
//     async onPodRemoved(uid) { await proxies.get(uid)?.listeners.close(); proxies.delete(uid); },
//   }});
// The node agent's side (src/cni/cni-agent.ts does this): NodeAgent decides and programs, ZdsServer tells ztunnel.
//   const agent = new NodeAgent({ nodeName, kubeConfig, netnsResolver: (uid) => findPodNetns(uid), hooks: {
//     onPodAdded: (pod, netns) => zdsServer.addWorkload(pod, netns),
//     onPodRemoved: (uid) => zdsServer.removeWorkload(uid),
//   }});
//   await agent.start();   // CNI ADD: agent.enrollNow(pod, namespace, { netnsPath: CNI_NETNS, ip })
export {
  INPOD_MARK,
  Netns,
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
