// The 2022 ambient dialect wrote waypoints as `gateway.networking.k8s.io/v1alpha2` Gateways without listeners.
// Gateway API releases since v1.0 no longer serve v1alpha2 Gateways and require listeners, so those manifests
// would be refused. `ambit install` adds v1alpha2 back to the Gateway CRD as a served, non-storage, deprecated
// version whose schema is v1's with `listeners` optional (the controller treats a waypoint Gateway without
// listeners as the implicit HBONE listener on 15008). Objects are still stored as v1; `uninstall --purge` takes
// the version out again.
import { KubeClient } from '../kube/client.js';
import { R, type KubeObject } from '../kube/resources.js';

export const GATEWAY_CRD = 'gateways.gateway.networking.k8s.io';
export const LEGACY_VERSION = 'v1alpha2';
export const LEGACY_WARNING = 'gateway.networking.k8s.io/v1alpha2 Gateway is served by Ambit for 2022 ambient manifests; use gateway.networking.k8s.io/v1';

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  deprecated?: boolean;
  deprecationWarning?: string;
  schema?: { openAPIV3Schema?: Schema };
  [k: string]: unknown;
}
interface Schema {
  required?: string[];
  properties?: Record<string, Schema>;
  minItems?: number;
  [k: string]: unknown;
}
type Crd = KubeObject & { spec: { versions: CrdVersion[] } };

/** The v1alpha2 version derived from the CRD's v1 version, or undefined when v1alpha2 is already served. */
export function legacyGatewayVersion(crd: Crd): CrdVersion | undefined {
  if (crd.spec.versions.some((v) => v.name === LEGACY_VERSION && v.served)) return undefined;
  const v1 = crd.spec.versions.find((v) => v.name === 'v1');
  if (!v1) throw new Error(`CustomResourceDefinition ${GATEWAY_CRD} has no v1 version: install Gateway API v1.0 or newer`);
  const legacy = structuredClone(v1);
  legacy.name = LEGACY_VERSION;
  legacy.served = true;
  legacy.storage = false;
  legacy.deprecated = true;
  legacy.deprecationWarning = LEGACY_WARNING;
  const spec = legacy.schema?.openAPIV3Schema?.properties?.spec;
  if (spec) {
    spec.required = (spec.required ?? []).filter((f) => f !== 'listeners');
    const listeners = spec.properties?.listeners;
    if (listeners) delete listeners.minItems;
    // Rules that read listeners assume they exist; keep the ones that still hold for an absent list.
    if (Array.isArray(spec['x-kubernetes-validations'])) {
      spec['x-kubernetes-validations'] = (spec['x-kubernetes-validations'] as { rule: string }[]).filter((r) => !/self\.listeners/.test(r.rule) || /has\(self\.listeners\)/.test(r.rule));
    }
  }
  return legacy;
}

/** Adds the legacy version when missing; returns true when it changed the CRD. */
export async function serveLegacyGatewayVersion(client: KubeClient): Promise<boolean> {
  const crd = await client.getOrUndefined<Crd>(R.crd, undefined, GATEWAY_CRD);
  if (!crd) return false;
  const legacy = legacyGatewayVersion(crd);
  if (!legacy) return false;
  crd.spec.versions = [...crd.spec.versions, legacy];
  await client.replace(R.crd, crd);
  return true;
}

/** Removes the version only if Ambit added it (recognised by its deprecation warning). */
export async function removeLegacyGatewayVersion(client: KubeClient): Promise<boolean> {
  const crd = await client.getOrUndefined<Crd>(R.crd, undefined, GATEWAY_CRD);
  const ours = crd?.spec.versions.find((v) => v.name === LEGACY_VERSION && v.deprecationWarning === LEGACY_WARNING);
  if (!crd || !ours) return false;
  crd.spec.versions = crd.spec.versions.filter((v) => v !== ours);
  await client.replace(R.crd, crd);
  return true;
}
