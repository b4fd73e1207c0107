// Cluster objects for the mesh model tests: Bookinfo as the samples define it, with pods the way a cluster
// would run them (ReplicaSet owners, IPs, nodes, Ready), plus waypoint Gateways in both dialects.

import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../src/kube/resources.js';
import type { Gateway, MeshInput, Pod, Service } from '../src/mesh/input.js';

const samples = new URL('../../../samples/manifests/', import.meta.url);

export function loadManifest(path: string, namespace = 'default'): KubeObject[] {
  return parseAllDocuments(readFileSync(new URL(path, samples), 'utf8'))
    .map((d) => d.toJSON() as KubeObject)
    .filter(Boolean)
    .map((o) => ({ ...o, metadata: { namespace, ...o.metadata } }));
}

let ipCounter = 10;
let svcCounter = 10;

/** Pods for a Deployment, as the ReplicaSet controller would create them. */
export function podsOf(deploy: KubeObject, opts: { replicas?: number; node?: string; ambient?: boolean } = {}): Pod[] {
  const spec = deploy.spec as { template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName?: string; containers: Pod['spec'] extends infer S ? S extends { containers?: infer C } ? C : never : never } } };
  const name = deploy.metadata.name!;
  const hash = 'abc12';
  return Array.from({ length: opts.replicas ?? 1 }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${name}-${hash}-p${i}`,
      namespace: deploy.metadata.namespace,
      labels: { ...spec.template.metadata.labels, 'pod-template-hash': hash },
      annotations: (opts.ambient ? { 'ambient.istio.io/redirection': 'enabled' } : {}) as Record<string, string>,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-${hash}`, uid: 'rs', controller: true }],
      creationTimestamp: '2026-01-01T00:00:00Z',
    },
    spec: { serviceAccountName: spec.template.spec.serviceAccountName, nodeName: opts.node ?? 'node-1', containers: spec.template.spec.containers },
    status: { phase: 'Running', podIP: `10.244.1.${ipCounter++}`, conditions: [{ type: 'Ready', status: 'True' }] },
  }));
}

export function withClusterIp(svc: KubeObject): Service {
  return { ...svc, spec: { ...(svc.spec as object), clusterIP: `10.96.0.${svcCounter++}` } } as Service;
}

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

/** A waypoint Gateway the controller has programmed (status.addresses set), or not (`ready: false`). */
export function waypointGateway(
  name: string,
  opts: { namespace?: string; className?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ready?: boolean; address?: string; serviceName?: string } = {},
): Gateway {
  const ns = opts.namespace ?? 'default';
  const svc = opts.serviceName ?? name;
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace: ns, labels: opts.labels ?? {}, annotations: opts.annotations ?? {}, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      gatewayClassName: opts.className ?? 'istio-waypoint',
      ...(opts.className === 'istio-mesh' ? {} : { listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] }),
    },
    status:
      opts.ready === false
        ? {}
        : {
            addresses: [
              { type: 'IPAddress', value: opts.address ?? '10.96.9.9' },
              { type: 'Hostname', value: `${svc}.${ns}.svc.cluster.local` },
            ],
          },
  };
}

/** Bookinfo + sleep + notsleep in `default`, ambient-captured, one pod each. */
export function bookinfo(opts: { ambient?: boolean } = {}): MeshInput {
  ipCounter = 10;
  svcCounter = 10;
  const objects = [...loadManifest('bookinfo.yaml'), ...loadManifest('sleep.yaml'), ...loadManifest('notsleep.yaml')];
  const pods = objects.filter((o) => o.kind === 'Deployment').flatMap((d) => podsOf(d, { ambient: opts.ambient ?? true }));
  const services = objects.filter((o) => o.kind === 'Service').map(withClusterIp);
  return {
    pods,
    services,
    namespaces: [namespace('default', { 'istio.io/dataplane-mode': 'ambient' }), namespace('istio-system')],
    gateways: [],
    gatewayClasses: [],
  };
}
