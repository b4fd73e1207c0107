// The TLS certificate :15012 serves (`istiod.istio-system.svc` and friends), signed by the mesh CA, so clients
// that trust the mesh root (the `istio-ca-root-cert` ConfigMap) can verify the controller, as with istiod.
// This module only says which names it carries; mesh-api's X.509 module builds and signs it.

import { issueServingCertificate, type CertificateAuthority, type ServingCertificate } from '@ambit/mesh-api';

/** The names istiod's serving certificate carries, for a controller in `namespace`. */
export function servingNames(namespace: string, service = 'istiod', domain = 'cluster.local'): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.${domain}`];
}

/** :15012's certificate: by default istiod's names plus `localhost`, and the loopback addresses. */
export function controlPlaneServingCertificate(
  ca: CertificateAuthority,
  namespace: string,
  opts: { dnsNames?: string[]; ipAddresses?: string[] } = {},
): ServingCertificate {
  return issueServingCertificate(ca, {
    dnsNames: opts.dnsNames ?? [...servingNames(namespace), 'localhost'],
    ipAddresses: opts.ipAddresses ?? ['127.0.0.1', '::1'],
  });
}
