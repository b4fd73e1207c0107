// The kubelet HTTPS server of Ambit's virtual nodes: what kube-apiserver proxies `kubectl logs` and `kubectl exec`
// to. See server.ts (TLS, routes), logs.ts (/containerLogs), exec.ts (/exec over SPDY), ws-exec.ts (/exec over
// WebSocket), command.ts (running the command) and spdy/ (SPDY/3.1).
//
// Which protocol reaches us for exec (Kubernetes v1.36 source, default feature gates):
// - kubectl 1.36 speaks WebSockets (v5.channel.k8s.io) to kube-apiserver.
// - kube-apiserver's ExecREST (pkg/registry/core/pod/rest/subresources.go) proxies the WebSocket straight to the
//   kubelet only when ExtendWebSocketsToKubelet is on (beta, default on in 1.36) *and* the Node lists
//   "ExtendWebSocketsToKubelet" in status.declaredFeatures. Ambit's nodes declare nothing, so with
//   TranslateStreamCloseWebsocketRequests (default on) the apiserver's StreamTranslatorHandler
//   (k8s.io/apiserver pkg/util/proxy/streamtranslator.go) terminates the WebSocket and dials us with client-go's
//   SPDY executor: POST + Upgrade: SPDY/3.1, X-Stream-Protocol-Version v5..v1, which we answer with v4.
// So no kube-apiserver feature gate needs changing. The server also takes the WebSocket (v5.channel.k8s.io)
// directly (ws-exec.ts), so a Node may declare ExtendWebSocketsToKubelet as a real 1.36 kubelet's does; both
// paths are covered by test/system/kubelet-apiserver.test.ts.
export { startKubeletServer, type KubeletServer, type KubeletServerOptions, type KubeletTLS } from './server.js';
export type { ContainerRef, ContainerRuntime, ExecIO, LogOptions } from '../node/runtime.js';
export type { KubeletExecIO } from './command.js';
