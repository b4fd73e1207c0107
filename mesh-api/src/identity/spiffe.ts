// SPIFFE identities as Istio writes them: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.

export interface Identity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export function spiffeId(id: Identity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

export function identityOf(w: { trustDomain?: string; namespace: string; serviceAccount: string }): string {
  return spiffeId({ trustDomain: w.trustDomain || DEFAULT_TRUST_DOMAIN, namespace: w.namespace, serviceAccount: w.serviceAccount || 'default' });
}

/** Parses `spiffe://td/ns/x/sa/y`; undefined when it is not of that form. */
export function parseSpiffeId(uri: string): Identity | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  return { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}

/** URI SANs from Node's `subjectaltname` string (`URI:spiffe://…, DNS:…`). DNS names are ignored. */
export function uriSans(subjectaltname: string | undefined): string[] {
  if (!subjectaltname) return [];
  const out: string[] = [];
  for (const part of subjectaltname.split(/,\s*/)) {
    if (part.startsWith('URI:')) out.push(part.slice(4));
  }
  return out;
}
