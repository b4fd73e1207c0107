// install-cni's job at agent start: the plugin files into the host's CNI bin dir, the plugin's kubeconfig, and our
// entry in the node's primary CNI config; then keep it there (fs.watch on the conf dir plus a periodic check: the
// primary CNI may rewrite its config at any time). `uninstall()` removes all three; `stop()` only stops watching
// (a restart or upgrade keeps the plugin in place so pods keep getting it).
import fs from 'node:fs';
import path from 'node:path';
import { logger, type LevelLogger } from '@ambit/mesh-api';
import { ensurePluginInConfig, removePluginFromConfigs } from './config-file.js';
import { CniConfigError } from './conflist.js';
import { KUBECONFIG_NAME, type KubeconfigSource, writeKubeconfig } from './kubeconfig.js';
import { DEFAULT_EVENT_SOCKET, type PluginEntry } from './plugin/config.js';
import { installPluginFiles, pluginFilesPresent, removePluginFiles } from './plugin-files.js';

export interface CniInstallerOptions {
  /** The host's CNI bin dir as mounted in the agent (Istio: /host/opt/cni/bin). */
  binDir: string;
  /** The host's CNI config dir as mounted in the agent (Istio: /host/etc/cni/net.d). */
  confDir: string;
  /** The same dir as the host sees it (paths in the plugin's entry are read on the host): /etc/cni/net.d. */
  hostConfDir: string;
  eventSocket?: string;
  eventTimeoutMs?: number;
  excludeNamespaces: string[];
  /** Read at every check, so a rotated token reaches the kubeconfig. */
  kubeconfigSource: () => KubeconfigSource;
  sourceDir?: string;
  nodeBinary?: string;
  /** Bundle Node's shared libraries and loader (default true). */
  bundleLibraries?: boolean;
  /** Periodic re-check (default 5 s). */
  checkIntervalMs?: number;
  log?: LevelLogger;
  onReadyChange?: (ready: boolean) => void;
}

export class CniInstaller {
  readonly #o: CniInstallerOptions;
  readonly #log: LevelLogger;
  #ready = false;
  #watcher: fs.FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #lastProblem = '';
  #waitingLogged = false;

  constructor(opts: CniInstallerOptions) {
    this.#o = opts;
    this.#log = opts.log ?? logger('cni::install');
  }

  /** The entry appended to the primary conflist. */
  entry(): PluginEntry {
    return {
      type: 'ambit-cni',
      cni_event_address: this.#o.eventSocket ?? DEFAULT_EVENT_SOCKET,
      ...(this.#o.eventTimeoutMs !== undefined ? { cni_event_timeout_ms: this.#o.eventTimeoutMs } : {}),
      kubernetes: {
        kubeconfig: path.join(this.#o.hostConfDir, KUBECONFIG_NAME),
        exclude_namespaces: this.#o.excludeNamespaces,
      },
    };
  }

  /** Plugin files copied, kubeconfig written and our entry in the primary config. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Installs the files (throws when the bin dir is not mounted), then checks the config and keeps watching it. */
  async start(): Promise<void> {
    const written = installPluginFiles(this.#fileOpts());
    this.#log.info(written.length ? `installed plugin files in ${this.#o.binDir} (${written.length} written)` : `plugin files in ${this.#o.binDir} are up to date`);
    this.check();
    try {
      this.#watcher = fs.watch(this.#o.confDir, () => this.#scheduleCheck());
      this.#watcher.on('error', (e) => this.#log.warn(`watching ${this.#o.confDir} failed (the periodic check continues): ${e.message}`));
    } catch (e) {
      this.#log.warn(`cannot watch ${this.#o.confDir} (the periodic check continues): ${(e as Error).message}`);
    }
    this.#timer = setInterval(() => this.check(), this.#o.checkIntervalMs ?? 5_000);
    this.#timer.unref();
  }

  #fileOpts() {
    return { binDir: this.#o.binDir, sourceDir: this.#o.sourceDir, nodeBinary: this.#o.nodeBinary, bundleLibraries: this.#o.bundleLibraries };
  }

  #scheduleCheck(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => this.check(), 50);
    this.#debounce.unref();
  }

  /** One pass: re-copy missing files, refresh the kubeconfig, (re-)insert our entry. Never throws. */
  check(): boolean {
    let ready = false;
    try {
      if (!pluginFilesPresent(this.#o.binDir)) {
        this.#log.info(`plugin files missing in ${this.#o.binDir}; copying them again`);
        installPluginFiles(this.#fileOpts());
      }
      if (writeKubeconfig(path.join(this.#o.confDir, KUBECONFIG_NAME), this.#o.kubeconfigSource())) {
        this.#log.info(`wrote ${path.join(this.#o.confDir, KUBECONFIG_NAME)}`);
      }
      const r = ensurePluginInConfig(this.#o.confDir, this.entry() as unknown as Record<string, unknown>);
      if (r.state === 'no-config') {
        if (!this.#waitingLogged) this.#log.info(`no CNI config in ${this.#o.confDir} yet; waiting for the primary CNI to write one`);
        this.#waitingLogged = true;
      } else {
        this.#waitingLogged = false;
        if (r.state === 'inserted') {
          const how = r.replaced ? ` (converted from ${path.basename(r.replaced)})` : '';
          this.#log.info(this.#ready ? `CNI config ${r.file} was rewritten; inserted ambit-cni again` : `inserted ambit-cni into ${r.file}${how}`);
        }
        ready = true;
      }
      this.#lastProblem = '';
    } catch (e) {
      const msg = e instanceof CniConfigError ? e.message : `installing the CNI plugin failed: ${(e as Error).message}`;
      if (msg !== this.#lastProblem) this.#log.error(msg);
      this.#lastProblem = msg;
    }
    this.#setReady(ready);
    return ready;
  }

  #setReady(ready: boolean): void {
    if (ready === this.#ready) return;
    this.#ready = ready;
    this.#o.onReadyChange?.(ready);
  }

  /** Stops watching; leaves everything installed (an agent restart or upgrade). */
  stop(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
  }

  /** Removes our entry from the CNI configs, the plugin files and the kubeconfig (the DaemonSet is being deleted). */
  uninstall(): void {
    this.stop();
    for (const f of removePluginFromConfigs(this.#o.confDir)) this.#log.info(`removed ambit-cni from ${f}`);
    removePluginFiles(this.#o.binDir);
    fs.rmSync(path.join(this.#o.confDir, KUBECONFIG_NAME), { force: true });
    this.#log.info(`removed the plugin from ${this.#o.binDir} and its kubeconfig from ${this.#o.confDir}`);
    this.#setReady(false);
  }
}
