// A Gateway's `spec.infrastructure.parametersRef`, resolved as istiod does: the one kind it supports is a ConfigMap
// of the Gateway's namespace; any other kind, or a ConfigMap that does not exist, makes the Gateway Accepted=False
// (InvalidParameters) and nothing is deployed for it. An existing ConfigMap's contents (istiod's overlays on the
// rendered objects) are not applied here, and the Accepted condition says so.
import type { Condition, KubeObject } from '../kube/resources.js';
import { mergeConditions } from '../kube/status.js';
import type { Gateway, GatewayStatus } from './types.js';

/** What the controller keeps of a ConfigMap: its name and which keys it has (values are never read). */
export type ConfigMapKeys = KubeObject & { data?: Record<string, string>; binaryData?: Record<string, string> };

export type ParametersResolution =
  | { kind: 'none' }
  /** The reference cannot be used: the Gateway is not accepted. */
  | { kind: 'invalid'; message: string }
  /** A ConfigMap that exists: accepted, its contents not applied (`note` says so). */
  | { kind: 'configMap'; note: string };

interface ParametersRef {
  group?: string;
  kind?: string;
  name?: string;
}

/** Keeps a ConfigMap's metadata and key names, drops its values (an informer transform: every ConfigMap is cached). */
export function configMapKeysOnly(o: KubeObject): KubeObject {
  const cm = o as ConfigMapKeys;
  const keys = (m: Record<string, string> | undefined) => (m ? Object.fromEntries(Object.keys(m).map((k) => [k, ''])) : undefined);
  const out: ConfigMapKeys = { apiVersion: cm.apiVersion, kind: cm.kind, metadata: { ...cm.metadata } };
  delete out.metadata.managedFields;
  const data = keys(cm.data);
  const binaryData = keys(cm.binaryData);
  if (data) out.data = data;
  if (binaryData) out.binaryData = binaryData;
  return out;
}

/** The ConfigMap a Gateway's parametersRef names (in its namespace), if it names one. */
export function parametersConfigMapName(gw: Gateway): string | undefined {
  const ref = gw.spec?.infrastructure?.parametersRef as ParametersRef | undefined;
  return ref && (ref.group ?? '') === '' && ref.kind === 'ConfigMap' && ref.name ? ref.name : undefined;
}

export function resolveInfrastructureParameters(gw: Gateway, configMap: (namespace: string, name: string) => ConfigMapKeys | undefined): ParametersResolution {
  const ref = gw.spec?.infrastructure?.parametersRef as ParametersRef | undefined;
  if (!ref) return { kind: 'none' };
  const ns = gw.metadata.namespace!;
  const name = parametersConfigMapName(gw);
  if (!name) {
    const gk = ref.group ? `${ref.kind}.${ref.group}` : `${ref.kind}`;
    return { kind: 'invalid', message: `spec.infrastructure.parametersRef ${gk} ${ns}/${ref.name} is not supported: only a ConfigMap (group "") can be referenced` };
  }
  const cm = configMap(ns, name);
  if (!cm) return { kind: 'invalid', message: `spec.infrastructure.parametersRef: ConfigMap ${ns}/${name} not found` };
  const keys = [...Object.keys(cm.data ?? {}), ...Object.keys(cm.binaryData ?? {})].sort();
  const held = keys.length ? `keys ${keys.join(', ')}` : 'no keys';
  return { kind: 'configMap', note: `spec.infrastructure.parametersRef ConfigMap ${ns}/${name} (${held}) is not applied: customising the rendered objects from a ConfigMap is not supported` };
}

/**
 * The Gateway status with the resolution reported: `invalid` turns Accepted False (InvalidParameters) and
 * Programmed False (Invalid) with its message; `configMap` appends its note to the Accepted message.
 */
export function withParametersStatus(status: GatewayStatus, resolution: ParametersResolution, gw: Gateway, now: string): GatewayStatus {
  if (resolution.kind === 'none') return status;
  const gen = gw.metadata.generation;
  const at = (c: Condition): Condition => ({ ...c, ...(gen !== undefined ? { observedGeneration: gen } : {}) });
  const replaced = (status.conditions ?? []).map((c): Condition => {
    if (resolution.kind === 'invalid') {
      if (c.type === 'Accepted') return at({ type: 'Accepted', status: 'False', reason: 'InvalidParameters', message: resolution.message });
      if (c.type === 'Programmed') return at({ type: 'Programmed', status: 'False', reason: 'Invalid', message: resolution.message });
      return c;
    }
    if (c.type === 'Accepted' && c.status === 'True') return { ...c, message: `${c.message}; ${resolution.note}` };
    return c;
  });
  // Transition times follow the status the Gateway had before (a condition that changes status transitions now).
  return { ...status, conditions: mergeConditions(gw.status?.conditions, replaced, now) };
}
