// The contract between the node agent and its CNI plugin: the plugin's entry in the node's conflist (written by the
// installer, read by the plugin from its stdin config) and the events the plugin posts to the agent.
// Imports nothing: the plugin runs from a copy on the host (see PLUGIN_FILES in ../plugin-files.ts).

/** Istio's socket path (host path, mounted at the same path in the agent). */
export const DEFAULT_EVENT_SOCKET = '/var/run/istio-cni/pluginevent.sock';
export const DEFAULT_EVENT_TIMEOUT_MS = 10_000;
export const ADD_PATH = '/cmdadd';
export const DEL_PATH = '/cmddel';

/** Our entry in the conflist's `plugins` (Istio's field names where Istio has one). */
export interface PluginEntry {
  type: 'ambit-cni';
  /** Unix socket of the node agent's plugin-event server. */
  cni_event_address: string;
  /** How long ADD waits for the agent's answer. */
  cni_event_timeout_ms?: number;
  kubernetes: {
    /** Host path of the kubeconfig the installer writes (used when the agent is unreachable). */
    kubeconfig: string;
    /** Pods here are never blocked nor sent to the agent (kube-system, the agent's own namespace). */
    exclude_namespaces: string[];
  };
  log_level?: 'debug' | 'info' | 'warn' | 'error';
}

/** POSTed as JSON to {@link ADD_PATH} / {@link DEL_PATH}. */
export interface PluginEvent {
  podName: string;
  podNamespace: string;
  /** Empty when the runtime did not pass K8S_POD_UID (the agent then uses the live pod's). */
  podUid: string;
  /** CNI_NETNS: the sandbox's network namespace path (may be empty on DEL). */
  netns: string;
  containerId: string;
  ifname: string;
  /** Pod IPs from prevResult (ADD). */
  ips: string[];
}

/** The agent's answer to an ADD (200). Errors are a non-2xx status with a one-line text/plain reason. */
export interface AddAnswer {
  enrolled: boolean;
  /** Why (not) enrolled, or `partial` when no ztunnel was connected (rules in place, ztunnel gets it later). */
  reason: string;
}
