// The `ambit` command line: istioctl's waypoint commands, install/uninstall, dashboard, version.
import { Command, CommanderError, Option } from 'commander';
import { KubeClient, KubeError } from '../kube/client.js';
import { KubeConfigError, loadClusterAccess } from '../kube/kubeconfig.js';
import { VERSION } from '../install/version.js';
import { InstallValuesError, SET_KEY_NAMES, parseInstallValues } from '../install/values.js';
import { ADDONS } from '../install/addons.js';
import { parseDuration } from './format.js';
import { CliError, applyWaypoint, deleteWaypoints, generateYaml, listCommand, makeGateway, statusCommand, validateTrafficType, type Out } from './waypoint.js';

export interface CliIO extends Out {
  env?: NodeJS.ProcessEnv;
  /** Test seam: a ready client instead of one from the kubeconfig. */
  client?: KubeClient;
  /** Test seam: ends long-running commands (`dashboard`) instead of SIGINT/SIGTERM. */
  stopped?: Promise<void>;
}

interface Globals {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  istioNamespace: string;
}

function durationOption(flag: string, desc: string, def: string): Option {
  return new Option(flag, desc).default(def).argParser((v: string) => {
    parseDuration(v); // validates
    return v;
  });
}

export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const env = io.env ?? process.env;
  let client: KubeClient | undefined = io.client;
  let defaultNamespace = 'default';
  // Credentials (and @kubernetes/client-node with them) are loaded only by the commands that talk to the cluster.
  const clientFor = async (g: Globals): Promise<KubeClient> => {
    if (!client) {
      const access = await loadClusterAccess({ kubeconfig: g.kubeconfig, context: g.context, env });
      client = new KubeClient(access);
    }
    defaultNamespace = client.namespace || 'default';
    return client;
  };
  const nsOf = (g: Globals, c?: KubeClient) => g.namespace || (c ? c.namespace : undefined) || defaultNamespace;

  const program = new Command('ambit')
    .description('Ambit: Istio ambient mesh as a Gateway API implementation, in TypeScript')
    .option('--kubeconfig <path>', 'Kubernetes configuration file (default $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--context <name>', 'Kubernetes configuration context')
    .option('-n, --namespace <namespace>', 'Kubernetes namespace')
    .option('-i, --istio-namespace <namespace>', 'Istio system namespace', 'istio-system')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s), outputError: (s, write) => write(s) })
    .showSuggestionAfterError(true);

  const waypoint = program.command('waypoint').alias('waypoints').description('Manage waypoint configuration');
  const gwFlags = (cmd: Command) =>
    cmd
      .option('--name <name>', 'name of the waypoint', 'waypoint')
      .option('--for <type>', 'Specify the traffic type [all none service workload] for the waypoint')
      .option('-r, --revision <revision>', 'The revision to label the waypoint with')
      .option('-s, --service-account <sa>', 'Scope the waypoint to one service account (the 2024 form: the Gateway is named after it, class istio-mesh)');

  const gatewayFlags = (cmd: Command, g: Globals, ns: string) => {
    const o = cmd.opts<{ name: string; for?: string; revision?: string; serviceAccount?: string }>();
    validateTrafficType(o.for);
    if (o.name === 'none') throw new CliError('invalid name provided for waypoint, \'none\' is a reserved value');
    const nameGiven = cmd.getOptionValueSource('name') === 'cli';
    const name = o.serviceAccount && !nameGiven ? o.serviceAccount : o.name;
    return { name, namespace: ns, for: o.for, revision: o.revision, serviceAccount: o.serviceAccount, g };
  };

  gwFlags(waypoint.command('generate').description('Generate a waypoint configuration as YAML')).action(async function (this: Command) {
    const g = this.optsWithGlobals<Globals>();
    const f = gatewayFlags(this, g, g.namespace || (await defaultNamespaceFromConfig(g, env)));
    io.out(generateYaml(makeGateway(f)));
  });

  gwFlags(waypoint.command('apply').description('Apply a waypoint configuration to the cluster'))
    .option('-w, --wait', 'Wait for the waypoint to be ready', false)
    .addOption(durationOption('--waypoint-timeout <duration>', 'Timeout for waiting for waypoint ready', '90s'))
    .option('--enroll-namespace', 'If set, the namespace will be labeled with the waypoint name', false)
    .option('--overwrite', 'Overwrite the existing Waypoint used by the namespace', false)
    .action(async function (this: Command) {
      const g = this.optsWithGlobals<Globals>();
      const o = this.opts<{ wait: boolean; waypointTimeout: string; enrollNamespace: boolean; overwrite: boolean }>();
      const pre = gatewayFlags(this, g, '');
      const c = await clientFor(g);
      await applyWaypoint(c, { ...pre, namespace: nsOf(g, c), wait: o.wait, timeoutMs: parseDuration(o.waypointTimeout), enrollNamespace: o.enrollNamespace, overwrite: o.overwrite }, io);
    });

  waypoint
    .command('delete')
    .description('Delete a waypoint configuration from the cluster')
    .argument('[names...]', 'waypoint names')
    .option('--all', 'Delete all waypoints in the namespace', false)
    .option('-r, --revision <revision>', 'Delete all waypoints of a revision')
    .option('--name <name>', 'name of the waypoint (ignored; pass names as arguments)')
    .action(async function (this: Command, names: string[]) {
      const g = this.optsWithGlobals<Globals>();
      const o = this.opts<{ all: boolean; revision?: string }>();
      const { validateDelete } = await import('./waypoint.js');
      validateDelete({ names, all: o.all, revision: o.revision, namespace: '' });
      const c = await clientFor(g);
      await deleteWaypoints(c, { names, all: o.all, revision: o.revision, namespace: nsOf(g, c) }, io);
    });

  waypoint
    .command('list')
    .description('List managed waypoint configurations in the cluster')
    .option('-A, --all-namespaces', 'List all waypoints in all namespaces', false)
    .action(async function (this: Command) {
      const g = this.optsWithGlobals<Globals>();
      const c = await clientFor(g);
      await listCommand(c, nsOf(g, c), this.opts<{ allNamespaces: boolean }>().allNamespaces, io);
    });

  waypoint
    .command('status')
    .description('Show the status of waypoints in a namespace')
    .option('--name <name>', 'name of the waypoint')
    .option('-w, --wait', 'Wait for the waypoint to be ready', true)
    .option('--no-wait', 'Do not wait for the waypoint to be ready')
    .addOption(durationOption('--waypoint-timeout <duration>', 'Timeout for retrieving status for waypoint', '90s'))
    .option('-A, --all-namespaces', 'Show the status of waypoints in all namespaces', false)
    .action(async function (this: Command) {
      const g = this.optsWithGlobals<Globals>();
      const o = this.opts<{ name?: string; wait: boolean; waypointTimeout: string; allNamespaces: boolean }>();
      const c = await clientFor(g);
      await statusCommand(c, { namespace: nsOf(g, c), allNamespaces: o.allNamespaces, name: o.name, wait: o.wait, timeoutMs: parseDuration(o.waypointTimeout) }, io);
    });

  program
    .command('ztunnel-config')
    .alias('zc')
    .description("Show ztunnel's configuration (from its admin /config_dump) as tables")
    .argument('<type>', 'workloads, services, policies or certificates')
    .option('--node <node>', 'Read the ztunnel on this node (default: the first running one)')
    .action(async function (this: Command, type: string) {
      const g = this.optsWithGlobals<Globals>();
      const { ZTUNNEL_CONFIG_KINDS, fetchConfigDump, findZtunnelPod, renderZtunnelConfig } = await import('./ztunnel-config.js');
      const kind = ZTUNNEL_CONFIG_KINDS.find((k) => k === type || k === `${type}s`);
      if (!kind) throw new CliError(`unknown ztunnel config type "${type}" (expected one of: ${ZTUNNEL_CONFIG_KINDS.join(', ')})`);
      const c = await clientFor(g);
      const pod = await findZtunnelPod(c, g.istioNamespace, this.opts<{ node?: string }>().node);
      io.out(renderZtunnelConfig(kind, await fetchConfigDump(c, pod), g.namespace));
    });

  program
    .command('dashboard')
    .description('Serve a live service graph of the mesh (from Prometheus) on a local web page')
    .option('--port <port>', 'Local port to serve the page on (0 picks a free one)', '20001')
    .option('--address <address>', 'Loopback address to listen on', '127.0.0.1')
    .option('--prometheus-url <url>', 'Prometheus to read (default: Service <istio-namespace>/prometheus:9090 through the API server)')
    .option('--window <duration>', 'Rate window of the graph\'s figures', '1m')
    .option('--max-edges <n>', 'Most edges drawn, the busiest first', '100')
    .option('--browser', 'Open the page in the default browser', true)
    .option('--no-browser', 'Only print the URL')
    .option('--screenshot <file>', 'Save a PNG of the graph with headless Chromium, print its path and exit (no browser)')
    .action(async function (this: Command) {
      const g = this.optsWithGlobals<Globals>();
      const o = this.opts<{ port: string; address: string; prometheusUrl?: string; window: string; maxEdges: string; browser: boolean; screenshot?: string }>();
      // Loaded only for this command, so the other commands start as fast as before.
      const { runDashboard } = await import('./dashboard.js');
      await runDashboard({ ...o, istioNamespace: g.istioNamespace }, { out: (s) => io.out(s), client: () => clientFor(g), stopped: io.stopped });
    });

  program
    .command('install')
    .description('Install Ambit (CRDs, controller, ztunnel) into the cluster')
    .option('--no-wait', 'Do not wait for the control plane to become ready')
    .addOption(durationOption('--readiness-timeout <duration>', 'Maximum time to wait for the control plane to become ready', '300s'))
    .option('-y, --skip-confirmation', 'Accepted for istioctl compatibility; ambit never prompts', false)
    .option('--hub <registry>', 'Registry prefix of the Ambit images: ambit/controller becomes <registry>/controller (istioctl: --set hub=)')
    .option('--tag <tag>', `Tag of the Ambit images (default ${VERSION}; istioctl: --set tag=)`)
    .option('-s, --set <key=value>', `Set an install value (repeatable): ${SET_KEY_NAMES.join(', ')}`, (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--addons <names>', `Also install these add-ons (comma-separated or repeated): ${ADDONS.join(', ')}`, (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .addHelpText(
      'after',
      [
        '',
        'Values:',
        '  hub, tag                  where the cluster pulls the controller, ztunnel and waypoint images from:',
        '                            <hub>/controller:<tag>, <hub>/ztunnel:<tag>, <hub>/waypoint:<tag> (default ambit, ' + VERSION + ')',
        '  values.cni.cniBinDir      node directory of the CNI plugin binaries (default /opt/cni/bin)',
        '  values.cni.cniConfDir     node directory of the CNI network configuration (default /etc/cni/net.d)',
        '  components.ingressGateways[0].enabled   true: also install the Istio API ingress gateway (default false)',
        '  components.ingressGateways[0].name      istio-ingressgateway (the only name supported)',
        '',
        'Add-ons (--addons, as Istio ships samples/addons):',
        '  prometheus                Prometheus in istio-system scraping ztunnel, the waypoints and the controller',
        '                            (image <hub>/prometheus:<tag>); uninstall removes it',
        '',
        'Examples:',
        '  ambit install                                           # images loaded into the nodes (kind load ...)',
        '  ambit install --hub registry.example.com/ambit --tag 0.1.0',
        '  ambit install --set values.cni.cniBinDir=/var/lib/rancher/k3s/data/current/bin \\',
        '                --set values.cni.cniConfDir=/var/lib/rancher/k3s/agent/etc/cni/net.d   # k3s',
        '  ambit install --set components.ingressGateways[0].enabled=true --set components.ingressGateways[0].name=istio-ingressgateway',
        '  ambit install --addons prometheus                       # then: kubectl -n istio-system port-forward svc/prometheus 9090',
        '',
      ].join('\n'),
    )
    .action(async function (this: Command) {
      const g = this.optsWithGlobals<Globals>();
      const o = this.opts<{ wait: boolean; readinessTimeout: string; hub?: string; tag?: string; set?: string[]; addons?: string[] }>();
      // Checked before the cluster is contacted: a bad value changes nothing.
      const values = parseInstallValues({ hub: o.hub, tag: o.tag, set: o.set, addons: o.addons });
      const { install } = await import('../install/install.js');
      await install(await clientFor(g), { values, wait: o.wait, timeoutMs: parseDuration(o.readinessTimeout), log: (l) => io.out(`${l}\n`) });
    });

  program
    .command('uninstall')
    .description('Remove Ambit from the cluster')
    .option('--purge', 'Also remove the CRDs the project owns', false)
    .option('-y, --skip-confirmation', 'Accepted for istioctl compatibility; ambit never prompts', false)
    .action(async function (this: Command) {
      const g = this.optsWithGlobals<Globals>();
      const { uninstall } = await import('../install/install.js');
      await uninstall(await clientFor(g), { purge: this.opts<{ purge: boolean }>().purge, log: (l) => io.out(`${l}\n`) });
    });

  program
    .command('version')
    .description('Print the version')
    .option('--remote', 'Also ask the cluster for the control plane version', false)
    .action(async function (this: Command) {
      io.out(`client version: ${VERSION}\n`);
      if (!this.opts<{ remote: boolean }>().remote) return;
      const g = this.optsWithGlobals<Globals>();
      const c = await clientFor(g);
      const { R } = await import('../kube/resources.js');
      const d = await c.getOrUndefined<{ metadata: object; spec?: { template?: { spec?: { containers?: Array<{ image?: string }> } } } } & import('../kube/resources.js').KubeObject>(R.deployment, g.istioNamespace, 'istiod');
      const image = (d?.spec as { template?: { spec?: { containers?: Array<{ image?: string }> } } } | undefined)?.template?.spec?.containers?.[0]?.image;
      io.out(`control plane version: ${image ? (imageTag(image) ?? 'unknown') : 'none'}\n`);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? 0 : 1;
    }
    io.err(`Error: ${describe(err)}\n`);
    // A bad install value is a usage error (nothing was changed): exit 2, as for a bad command line.
    return err instanceof InstallValuesError ? 2 : 1;
  } finally {
    client?.close();
  }
}

/** The tag of an image reference; a registry port (`localhost:5001/controller:1.2`) is not one. */
export function imageTag(image: string): string | undefined {
  return /:([\w][\w.-]*)$/.exec(image.replace(/@.*$/, ''))?.[1];
}

async function defaultNamespaceFromConfig(g: Globals, env: NodeJS.ProcessEnv): Promise<string> {
  try {
    return (await loadClusterAccess({ kubeconfig: g.kubeconfig, context: g.context, env })).namespace;
  } catch {
    return 'default';
  }
}

export function describe(err: unknown): string {
  if (err instanceof CliError || err instanceof KubeConfigError || err instanceof InstallValuesError) return err.message;
  if (err instanceof KubeError) {
    if (err.unreachable) return `${err.message} (is the cluster running? check --kubeconfig / KUBECONFIG)`;
    if (err.forbidden) return `permission denied: ${err.message}`;
    return err.message;
  }
  if (err instanceof Error) return err.message.split('\n')[0];
  return String(err);
}
