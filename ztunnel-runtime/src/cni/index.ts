// The node agent (Istio's istio-cni role, `cni-agent` mode of main.ts) and its chained CNI plugin (`ambit-cni`).
//   conflist / config-file  our entry in the node's primary CNI config (insert, detect rewrites, remove)
//   plugin-files / kubeconfig / installer  what the agent puts on the host and keeps there
//   plugin/                 the plugin itself (Node builtins only; runs from a copy on the host)
export { PLUGIN_TYPE, CONFIG_FILE_RE, CniConfigError, primaryConfigFile, parseConfig, insertPlugin, hasPlugin, removePlugin, type InsertResult } from './conflist.js';
export { ensurePluginInConfig, pluginInConfig, removePluginFromConfigs, type EnsureResult } from './config-file.js';
export {
  PLUGIN_FILES,
  COMPILED_SRC_DIR,
  PLUGIN_DIR_NAME,
  wrapperScript,
  installPluginFiles,
  pluginFilesPresent,
  removePluginFiles,
  librariesFromMaps,
  loaderOf,
  nodeRuntimeLibraries,
  sonameAliases,
  type PluginFilesOptions,
} from './plugin-files.js';
export { KUBECONFIG_NAME, SA_DIR, apiServerFromEnv, serviceAccountSource, renderKubeconfig, writeKubeconfig, type KubeconfigSource } from './kubeconfig.js';
export { CniInstaller, type CniInstallerOptions } from './installer.js';
export { DEFAULT_EVENT_SOCKET, ADD_PATH, DEL_PATH, type PluginEntry, type PluginEvent, type AddAnswer } from './plugin/config.js';
export { runCni, type CniOutcome } from './plugin/plugin.js';
export { parseCniArgs, SUPPORTED_VERSIONS } from './plugin/cni.js';
export { podUidsFromCgroup, findPodNetns, type ProcScanOptions } from './proc-netns.js';
export { ProbeSnat, probeChainName, hostIptables, detectHostIptables, PROBE_SNAT_IP, type IptablesRunner, type ProbeSnatOptions } from './probe-snat.js';
export { PluginEventServer, parsePluginEvent, BadEventError, type PluginEventHandlers } from './event-server.js';
export {
  CniAgent,
  kubeLiveReader,
  daemonSetBeingRemoved,
  isZdsNotConnected,
  type CniAgentOptions,
  type WorkloadInfo,
  type WorkloadSink,
  type LiveReader,
} from './cni-agent.js';
export { parseCniAgentConfig, CniAgentConfigError, type CniAgentConfig } from './config.js';
export { runCniAgent, type RunningCniAgent, type RunCniAgentOptions } from './run.js';
