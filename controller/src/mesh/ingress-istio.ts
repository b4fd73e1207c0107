// The Istio API's ingress (pure): the `istio-ingressgateway` that `ambit install` adds, configured the way istiod
// configures it from networking.istio.io Gateways (any namespace, selected by `spec.selector` against the ingress
// pods' labels) and the VirtualServices bound to them by `spec.gateways`. Each server becomes one IngressListener
// of the contract (mesh-api config-stream/types.ts); servers that cannot be served are left out with a warning.
import { resourceKey, type IngressListener, type KubeObject as WireObject, type TlsCertificate, type WaypointConfig, type WaypointService, type WaypointWorkload } from '@ambit/mesh-api';
import { hostnamesMatch } from '../gateway/ingress-attach.js';
import type { KubeObject } from '../kube/resources.js';
import type { Pod, Service } from './input.js';
import { matchLabels } from './policies.js';
import { nsName } from './model.js';
import { destinationRuleHost, PLUGIN_POLICY_CONFIGMAP, virtualServiceDestinations, wireObject } from './resources.js';

import { INGRESS_GATEWAY_NAME as INGRESS_NAME, INGRESS_SERVICE_ACCOUNT } from '../gateway/names.js';

export { INGRESS_NAME, INGRESS_SERVICE_ACCOUNT };
export const ISTIO_NETWORKING = 'networking.istio.io';
/** `WaypointInfo.gatewayClassName` of the ingress: none (no GatewayClass configures it; it can match no targetRef). */
export const INGRESS_GATEWAY_CLASS = '';

export interface IngressWarning {
  /** `Gateway.networking.istio.io ns/name`. */
  object: string;
  reason: string;
  message: string;
}

export interface IngressInput {
  /** The system namespace the ingress is installed in. */
  namespace: string;
  /** Every Pod and Service (the ingress's are picked here). */
  pods: Pod[];
  services: Service[];
  istioGateways: KubeObject[];
  virtualServices: KubeObject[];
  destinationRules: KubeObject[];
  /** Secrets of the ingress's namespace (credentialName). */
  secrets: KubeObject[];
  pluginPolicies?: KubeObject[];
  /** The mesh as every waypoint sees it (the ingress forwards into it). */
  meshWorkloads: WaypointWorkload[];
  meshServices: WaypointService[];
  domain: string;
}

export interface IngressResult {
  config: WaypointConfig;
  /** The labels its pods carry (the push stream admits only pods with them). */
  podLabels: Record<string, string>;
  warnings: IngressWarning[];
}

interface Server {
  port?: { number?: number; protocol?: string; name?: string };
  hosts?: string[];
  tls?: { mode?: string; credentialName?: string; credentialNames?: string[]; serverCertificate?: string };
}

const spec = (o: KubeObject): Record<string, unknown> => ((o as { spec?: unknown }).spec ?? {}) as Record<string, unknown>;
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** A server host `ns/host`, `./host`, `*\/host` or `host`: which namespaces' VirtualServices it admits, and the host. */
function serverHost(h: string, gwNamespace: string): { namespace: string; host: string } {
  const i = h.indexOf('/');
  if (i < 0) return { namespace: '*', host: h };
  const ns = h.slice(0, i);
  return { namespace: ns === '.' ? gwNamespace : ns, host: h.slice(i + 1) };
}

/** Istio's ResolveShortnameToFQDN: only names without a dot get `.<ns>.svc.<domain>`. */
const fqdn = (h: string, ns: string, domain: string): string => (h === '*' || h.includes('.') || /^[\d:]+$/.test(h) ? h : `${h}.${ns}.svc.${domain}`);

/** `ns/name` of each gateway a VirtualService names (`mesh` is the mesh, not a gateway). */
export function virtualServiceGateways(vs: KubeObject): string[] {
  const ns = vs.metadata.namespace ?? '';
  return strings(spec(vs).gateways)
    .filter((g) => g !== 'mesh')
    .map((g) => {
      if (g.includes('/')) return g;
      // The deprecated `name.namespace.svc.cluster.local` form.
      if (g.includes('.')) {
        const [name, gns] = g.split('.');
        return `${gns}/${name}`;
      }
      return `${ns}/${g}`;
    });
}

/** The CA's own Secrets: never a gateway credential, whatever a Gateway names. */
const CA_SECRETS = new Set(['cacerts', 'istio-ca-secret']);
/** Secret types Istio reads a gateway credential from. */
const CREDENTIAL_TYPES = new Set([undefined, 'Opaque', 'kubernetes.io/tls']);

/** The PEM chain and key a credential Secret holds: `tls.crt`/`tls.key` (kubernetes.io/tls) or Istio's `cert`/`key`. */
export function secretCertificate(secret: KubeObject): TlsCertificate | undefined {
  if (CA_SECRETS.has(secret.metadata.name!) || !CREDENTIAL_TYPES.has((secret as { type?: string }).type)) return undefined;
  const data = ((secret as { data?: Record<string, string> }).data ?? {}) as Record<string, string>;
  const decode = (k: string) => (typeof data[k] === 'string' ? Buffer.from(data[k]!, 'base64').toString('utf8') : undefined);
  const chain = decode('tls.crt') ?? decode('cert');
  const key = decode('tls.key') ?? decode('key');
  return chain && key ? { certChain: chain, privateKey: key } : undefined;
}

type Family = 'HTTP' | 'TLS';

/**
 * The ingress's WaypointConfig when its Service `<namespace>/istio-ingressgateway` exists, else undefined (not
 * installed). Listeners are ordered by Gateway (oldest first, as istiod orders conflicting Gateways) and server.
 */
export function buildIngressIstio(input: IngressInput): IngressResult | undefined {
  const svc = input.services.find((s) => s.metadata.namespace === input.namespace && s.metadata.name === INGRESS_NAME);
  if (!svc) return undefined;
  const selector = svc.spec?.selector ?? {};
  const pods = input.pods.filter((p) => p.metadata.namespace === input.namespace && Object.keys(selector).length > 0 && matchLabels(selector, p.metadata.labels ?? {}));
  // What Gateways select: the pods' labels; before any pod runs, the Service's selector stands for them.
  const labelSets = pods.length ? pods.map((p) => p.metadata.labels ?? {}) : [selector];
  const podLabels = { ...selector };
  const warnings: IngressWarning[] = [];
  const secrets = new Map(input.secrets.filter((s) => s.metadata.namespace === input.namespace).map((s) => [s.metadata.name!, s]));

  const targetPort = (port: number): number => {
    const sp = svc.spec?.ports?.find((p) => p.port === port);
    if (!sp) return port; // no Service port: the pod listens on the server's port itself, as in Istio
    if (typeof sp.targetPort === 'number') return sp.targetPort;
    if (typeof sp.targetPort === 'string' && /^\d+$/.test(sp.targetPort)) return Number(sp.targetPort);
    if (typeof sp.targetPort === 'string') {
      for (const p of pods) for (const c of p.spec?.containers ?? []) for (const cp of c.ports ?? []) if (cp.name === sp.targetPort) return cp.containerPort;
    }
    return port;
  };

  const gateways = input.istioGateways
    .filter((g) => {
      const sel = spec(g).selector as Record<string, string> | undefined;
      // Istio: a Gateway without a selector selects every gateway proxy (all labels match an empty selector).
      return labelSets.some((l) => matchLabels(sel ?? {}, l));
    })
    .sort((a, b) => {
      const ka = `${a.metadata.creationTimestamp ?? ''}/${nsName(a)}`;
      const kb = `${b.metadata.creationTimestamp ?? ''}/${nsName(b)}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });

  const listeners: IngressListener[] = [];
  const families = new Map<number, { family: Family; from: string }>();
  const routed = new Set<KubeObject>();
  for (const gw of gateways) {
    const gwKey = nsName(gw);
    const gwNs = gw.metadata.namespace!;
    const object = `Gateway.${ISTIO_NETWORKING} ${gwKey}`;
    const warn = (reason: string, message: string) => warnings.push({ object, reason, message });
    const servers = (Array.isArray(spec(gw).servers) ? (spec(gw).servers as unknown[]) : []).filter((s): s is Server => typeof s === 'object' && s !== null);
    servers.forEach((server, index) => {
      const port = server.port?.number;
      const proto = (server.port?.protocol ?? '').toUpperCase();
      const where = `server ${index} (port ${port ?? '?'})`;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return warn('InvalidPort', `${where}: port.number must be 1-65535`);
      const mode = (server.tls?.mode ?? '').toUpperCase();
      let listener: Omit<IngressListener, 'name' | 'parent' | 'port' | 'targetPort' | 'hostnames' | 'routes'>;
      if (proto === 'HTTP' || proto === 'HTTP2' || proto === 'GRPC') {
        listener = { protocol: 'HTTP' };
      } else if ((proto === 'HTTPS' || proto === 'TLS') && mode === 'PASSTHROUGH') {
        listener = { protocol: 'TLS', tls: { mode: 'Passthrough', certificates: [] } };
      } else if ((proto === 'HTTPS' || proto === 'TLS') && mode === 'SIMPLE') {
        const names = [...(server.tls?.credentialName ? [server.tls.credentialName] : []), ...strings(server.tls?.credentialNames)];
        if (!names.length) return warn('UnsupportedValue', `${where}: tls.mode SIMPLE needs tls.credentialName (certificate files on the gateway are not supported)`);
        const certificates: TlsCertificate[] = [];
        for (const name of names) {
          const secret = secrets.get(name);
          if (!secret) return warn('ReferencedResourceNotFound', `${where}: Referenced credentialName not found: "${name}" (Secret ${input.namespace}/${name})`);
          const cert = secretCertificate(secret);
          if (!cert) return warn('InvalidGatewayCredential', `${where}: Secret ${input.namespace}/${name} is not a gateway credential (a kubernetes.io/tls or Opaque Secret with tls.crt/tls.key or cert/key)`);
          certificates.push(cert);
        }
        listener = { protocol: proto === 'HTTPS' ? 'HTTPS' : 'TLS', tls: { mode: 'Terminate', certificates } };
      } else if (proto === 'HTTPS' || proto === 'TLS') {
        return warn('UnsupportedValue', `${where}: tls.mode ${mode || '(none)'} is not supported (SIMPLE and PASSTHROUGH are)`);
      } else {
        return warn('UnsupportedValue', `${where}: protocol ${proto || '(none)'} is not supported (HTTP, HTTP2, GRPC, HTTPS, TLS are)`);
      }
      const tp = targetPort(port);
      // One socket per target port speaks either plain HTTP or TLS: istiod keeps the first Gateway's server.
      const family: Family = listener.protocol === 'HTTP' ? 'HTTP' : 'TLS';
      const taken = families.get(tp);
      if (taken && taken.family !== family) return warn('Conflict', `${where}: port ${tp} already serves ${taken.family === 'HTTP' ? 'plain HTTP' : 'TLS'} for ${taken.from}`);
      families.set(tp, { family, from: `Gateway ${gwKey}` });

      const hosts = strings(server.hosts).map((h) => serverHost(h, gwNs));
      const routes: string[] = [];
      for (const vs of input.virtualServices) {
        if (!virtualServiceGateways(vs).includes(gwKey)) continue;
        const vsNs = vs.metadata.namespace!;
        const vsHosts = strings(spec(vs).hosts).map((h) => fqdn(h, vsNs, input.domain));
        const admitted = hosts.some((h) => (h.namespace === '*' || h.namespace === vsNs) && vsHosts.some((v) => hostnamesMatch(h.host, v)));
        if (!admitted) continue;
        routes.push(resourceKey(wireObject(vs)));
        routed.add(vs);
      }
      const hostnames = [...new Set(hosts.map((h) => h.host))];
      listeners.push({
        name: `${gwKey}/${index}`,
        parent: { group: ISTIO_NETWORKING, namespace: gwNs, name: gw.metadata.name! },
        port,
        targetPort: tp,
        protocol: listener.protocol,
        ...(hostnames.length && !hostnames.includes('*') ? { hostnames } : {}),
        ...(listener.tls ? { tls: listener.tls } : {}),
        routes: routes.sort(),
      });
    });
  }

  // The VirtualServices accepted on some listener, the DestinationRules of their destinations, the plugin allow-list.
  const resources: KubeObject[] = [...routed];
  const destinations = new Set([...routed].flatMap((vs) => virtualServiceDestinations(vs, input.domain)));
  for (const dr of input.destinationRules) {
    const h = destinationRuleHost(dr, input.domain);
    if (h && destinations.has(h)) resources.push(dr);
  }
  for (const cm of input.pluginPolicies ?? []) if (cm.metadata.namespace === input.namespace && cm.metadata.name === PLUGIN_POLICY_CONFIGMAP) resources.push(cm);
  const wire: WireObject[] = resources.map(wireObject).sort((a, b) => (resourceKey(a) < resourceKey(b) ? -1 : resourceKey(a) > resourceKey(b) ? 1 : 0));

  return {
    config: {
      waypoint: {
        name: INGRESS_NAME,
        namespace: input.namespace,
        gatewayClassName: INGRESS_GATEWAY_CLASS,
        trafficType: 'none',
        services: [],
        workloads: [],
        role: 'ingress',
        listeners,
      },
      workloads: input.meshWorkloads,
      services: input.meshServices,
      resources: wire,
    },
    podLabels,
    warnings,
  };
}
