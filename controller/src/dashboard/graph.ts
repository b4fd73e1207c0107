// Istio's standard metrics (as Prometheus returns them) to a service graph: workload, service and waypoint nodes,
// and edges with request rate, error shares, p99, mTLS and the waypoint hop. Pure, so it is tested without a browser.
import type { Labels, Sample } from './prometheus.js';

export type NodeKind = 'workload' | 'service' | 'waypoint' | 'unknown';
export interface GraphNode {
  id: string;
  kind: NodeKind;
  /** Workload, Service (short) or waypoint name. */
  name: string;
  namespace: string;
  /** `destination_version` / `source_version` (the canonical revision), when known. */
  version?: string;
  /** Service: its hostname. */
  hostname?: string;
  /** Waypoint: the service nodes whose requests it handled. */
  serves?: string[];
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  protocol: 'http' | 'tcp';
  /** Requests per second (http). */
  rps: number;
  /** Share of requests answered 5xx, and 4xx (0..1; http). */
  errorRate: number;
  clientErrorRate: number;
  /** 99th percentile of request duration in ms (http), when the histogram has data. */
  p99Ms?: number;
  /** Bytes per second sent (tcp), connections opened per second (tcp). */
  bytesPerSecond: number;
  connectionsPerSecond: number;
  /** Share of the traffic with connection_security_policy="mutual_tls" (0..1), and whether all of it is. */
  mtlsShare: number;
  mtls: boolean;
  /** The waypoint node the requests passed through (reporter="waypoint"). */
  waypoint?: string;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Edges before the bound; when larger than edges.length, the smallest were left out. */
  totalEdges: number;
}

/** What the queries returned, one array per query (see queries.ts). */
export interface GraphInput {
  requests: Sample[];
  p99In: Sample[];
  p99Out: Sample[];
  tcpBytes: Sample[];
  tcpConnections: Sample[];
}

export interface BuildOptions {
  /** Most edges drawn (the busiest first). Default 100. */
  maxEdges?: number;
  /** Most samples read per query; the rest are ignored. Default 20 000. */
  maxSamples?: number;
}

export const DEFAULT_MAX_EDGES = 100;
export const DEFAULT_MAX_SAMPLES = 20_000;

const known = (v: string | undefined): string | undefined => (v && v !== 'unknown' ? v : undefined);

/** The waypoint that reported a sample, from the scrape target's labels (Istio's Prometheus maps pod labels and adds namespace, pod). */
export function waypointOf(m: Labels): { name: string; namespace: string } {
  // The Gateway's name; else its Deployment's (a service-account waypoint's is `<gateway>-istio-waypoint`).
  const deployment = known(m.service_istio_io_canonical_name) ?? (m.pod ? m.pod.replace(/-[a-z0-9]{6,10}-[a-z0-9]{5}$/, '') : undefined);
  const name = known(m.gateway_networking_k8s_io_gateway_name) ?? known(m.istio_io_gateway_name) ?? deployment?.replace(/-istio-waypoint$/, '') ?? 'waypoint';
  const namespace = known(m.namespace) ?? known(m.destination_service_namespace) ?? known(m.destination_workload_namespace) ?? 'unknown';
  return { name, namespace };
}

/** Short name of a service hostname: `reviews.default.svc.cluster.local` -> reviews. */
function serviceShort(hostname: string): { name: string; namespace: string } {
  const parts = hostname.split('.');
  if (parts.length >= 3 && parts[2] === 'svc') return { name: parts[0], namespace: parts[1] };
  return { name: hostname, namespace: '' };
}

interface Acc {
  edge: GraphEdge;
  /** Per reporter: [total, 5xx, 4xx, mtls] for http; [bytes, conns, mtls-bytes, mtls-conns] for tcp. */
  by: Map<string, number[]>;
}

// Each hop is counted once: the most trustworthy reporter present wins (Istio's sidecars report both ends).
const HTTP_REPORTERS = ['waypoint', 'destination', 'source'];
const TCP_REPORTERS = ['destination', 'source'];

export function buildGraph(input: GraphInput, opts: BuildOptions = {}): Graph {
  const maxEdges = opts.maxEdges ?? DEFAULT_MAX_EDGES;
  const maxSamples = opts.maxSamples ?? DEFAULT_MAX_SAMPLES;
  const nodes = new Map<string, GraphNode>();
  const accs = new Map<string, Acc>();
  const waypointWorkloads = new Set<string>();

  const workload = (name: string | undefined, ns: string | undefined, version: string | undefined): string => {
    if (!known(name)) {
      if (!nodes.has('unknown')) nodes.set('unknown', { id: 'unknown', kind: 'unknown', name: 'unknown', namespace: '' });
      return 'unknown';
    }
    const namespace = known(ns) ?? 'unknown';
    const id = `workload:${namespace}/${name}`;
    const n = nodes.get(id);
    if (!n) nodes.set(id, { id, kind: 'workload', name: name!, namespace, version: known(version) });
    else if (!n.version && known(version)) n.version = version;
    return id;
  };
  const service = (hostname: string | undefined): string | undefined => {
    if (!known(hostname)) return undefined;
    const id = `service:${hostname}`;
    if (!nodes.has(id)) {
      const s = serviceShort(hostname!);
      nodes.set(id, { id, kind: 'service', name: s.name, namespace: s.namespace, hostname });
    }
    return id;
  };
  const edge = (source: string, target: string, protocol: 'http' | 'tcp'): Acc => {
    const id = `${protocol}:${source}->${target}`;
    let a = accs.get(id);
    if (!a) {
      a = { edge: { id, source, target, protocol, rps: 0, errorRate: 0, clientErrorRate: 0, bytesPerSecond: 0, connectionsPerSecond: 0, mtlsShare: 0, mtls: false }, by: new Map() };
      accs.set(id, a);
    }
    return a;
  };
  const add = (a: Acc, reporter: string, values: number[]) => {
    let v = a.by.get(reporter);
    if (!v) a.by.set(reporter, (v = values.map(() => 0)));
    values.forEach((x, i) => (v[i] += x));
  };
  /** The hops one sample stands for: source -> service -> workload, or source -> workload without a known service. */
  const hops = (m: Labels, protocol: 'http' | 'tcp'): Acc[] => {
    const src = workload(m.source_workload, m.source_workload_namespace, m.source_version);
    const svc = service(m.destination_service);
    const dst = known(m.destination_workload) ? workload(m.destination_workload, m.destination_workload_namespace, m.destination_version) : undefined;
    if (svc) return dst ? [edge(src, svc, protocol), edge(svc, dst, protocol)] : [edge(src, svc, protocol)];
    return dst ? [edge(src, dst, protocol)] : [];
  };

  // HTTP: istio_requests_total, by response code.
  for (const s of input.requests.slice(0, maxSamples)) {
    const m = s.metric;
    const reporter = m.reporter ?? 'source';
    const code = Number(m.response_code);
    const values = [s.value, code >= 500 ? s.value : 0, code >= 400 && code < 500 ? s.value : 0, m.connection_security_policy === 'mutual_tls' ? s.value : 0];
    const [into, out] = hops(m, 'http');
    if (!into) continue;
    add(into, reporter, values);
    if (out) add(out, reporter, values);
    if (reporter === 'waypoint') {
      const w = waypointOf(m);
      const id = `waypoint:${w.namespace}/${w.name}`;
      const node = nodes.get(id) ?? { id, kind: 'waypoint' as const, name: w.name, namespace: w.namespace, serves: [] };
      nodes.set(id, node);
      into.edge.waypoint = id;
      if (!node.serves!.includes(into.edge.target)) node.serves!.push(into.edge.target);
      for (const n of [w.name, `${w.name}-istio-waypoint`, known(m.service_istio_io_canonical_name)]) if (n) waypointWorkloads.add(`${w.namespace}/${n}`);
    }
  }

  // L4: ztunnel's connections and bytes. A hop to or from a waypoint is the transport of requests drawn above.
  const viaWaypoint = (m: Labels) =>
    waypointWorkloads.has(`${m.source_workload_namespace}/${m.source_workload}`) || waypointWorkloads.has(`${m.destination_workload_namespace}/${m.destination_workload}`);
  // ztunnel's destination side only guesses the service (the tunnel names a pod address) and may report "unknown":
  // join such figures to the service the source side named for the same pair of workloads, so one hop is one edge.
  const pair = (m: Labels) => `${m.source_workload_namespace}/${m.source_workload}->${m.destination_workload_namespace}/${m.destination_workload}`;
  const serviceOfPair = new Map<string, string>();
  for (const s of [...input.tcpBytes, ...input.tcpConnections].slice(0, 2 * maxSamples)) {
    const m = s.metric;
    if (known(m.destination_service) && known(m.destination_workload)) serviceOfPair.set(pair(m), m.destination_service!);
  }
  const tcp = (samples: Sample[], slot: 0 | 1) => {
    for (const s of samples.slice(0, maxSamples)) {
      let m = s.metric;
      if (viaWaypoint(m)) continue;
      const svc = known(m.destination_service) ? undefined : serviceOfPair.get(pair(m));
      if (svc) m = { ...m, destination_service: svc };
      const mtls = m.connection_security_policy === 'mutual_tls' ? s.value : 0;
      const values = slot === 0 ? [s.value, 0, mtls, 0] : [0, s.value, 0, mtls];
      for (const a of hops(m, 'tcp')) add(a, m.reporter ?? 'destination', values);
    }
  };
  tcp(input.tcpBytes, 0);
  tcp(input.tcpConnections, 1);

  const p99 = (samples: Sample[], key: (m: Labels) => string | undefined) => {
    const out = new Map<string, number>();
    for (const s of samples.slice(0, maxSamples)) {
      const k = key(s.metric);
      if (k) out.set(k, Math.max(out.get(k) ?? 0, s.value));
    }
    return out;
  };
  const nodeIdOfWorkload = (m: Labels, side: 'source' | 'destination') =>
    known(m[`${side}_workload`]) ? `workload:${known(m[`${side}_workload_namespace`]) ?? 'unknown'}/${m[`${side}_workload`]}` : 'unknown';
  const p99In = p99(input.p99In, (m) => `${nodeIdOfWorkload(m, 'source')}->${known(m.destination_service) ? `service:${m.destination_service}` : 'unknown'}`);
  const p99Out = p99(input.p99Out, (m) => (known(m.destination_service) ? `service:${m.destination_service}->${nodeIdOfWorkload(m, 'destination')}` : undefined));

  // Finish each edge from its best reporter; an L4 edge on the same hop as requests only adds its figures.
  const edges: GraphEdge[] = [];
  for (const a of accs.values()) {
    const e = a.edge;
    const reporters = e.protocol === 'http' ? HTTP_REPORTERS : TCP_REPORTERS;
    const best = reporters.find((r) => a.by.has(r)) ?? [...a.by.keys()].sort()[0];
    const v = best ? a.by.get(best)! : [0, 0, 0, 0];
    if (e.protocol === 'http') {
      e.rps = v[0];
      e.errorRate = v[0] > 0 ? v[1] / v[0] : 0;
      e.clientErrorRate = v[0] > 0 ? v[2] / v[0] : 0;
      e.mtlsShare = v[0] > 0 ? v[3] / v[0] : 0;
      const hop = `${e.source}->${e.target}`;
      const q = p99In.get(hop) ?? p99Out.get(hop);
      if (q !== undefined) e.p99Ms = q;
      if (e.rps <= 0) continue;
    } else {
      e.bytesPerSecond = v[0];
      e.connectionsPerSecond = v[1];
      e.mtlsShare = v[1] > 0 ? v[3] / v[1] : v[0] > 0 ? v[2] / v[0] : 0;
      if (e.bytesPerSecond <= 0 && e.connectionsPerSecond <= 0) continue;
      const http = accs.get(`http:${e.source}->${e.target}`)?.edge;
      if (http && http.rps > 0) {
        http.bytesPerSecond = e.bytesPerSecond;
        http.connectionsPerSecond = e.connectionsPerSecond;
        continue;
      }
    }
    e.mtls = e.mtlsShare >= 0.999;
    edges.push(e);
  }

  // The bound: the busiest edges (requests before bytes), ties by id so the picture is stable.
  const weight = (e: GraphEdge) => (e.protocol === 'http' ? e.rps : 0);
  edges.sort((x, y) => weight(y) - weight(x) || y.bytesPerSecond - x.bytesPerSecond || y.connectionsPerSecond - x.connectionsPerSecond || x.id.localeCompare(y.id));
  const kept = edges.slice(0, Math.max(0, maxEdges));
  const used = new Set<string>();
  for (const e of kept) {
    used.add(e.source);
    used.add(e.target);
    if (e.waypoint) used.add(e.waypoint);
  }
  const keptNodes = [...nodes.values()].filter((n) => used.has(n.id));
  for (const n of keptNodes) if (n.serves) n.serves = n.serves.filter((s) => used.has(s)).sort();
  keptNodes.sort((a, b) => a.id.localeCompare(b.id));
  kept.sort((a, b) => a.id.localeCompare(b.id));
  return { nodes: keptNodes, edges: kept, totalEdges: edges.length };
}
