// node-forge's ASN.1 module on its own (@types/node-forge types only the package index).
declare module 'node-forge/lib/asn1.js' {
  import type forge from 'node-forge';
  const asn1: typeof forge.asn1;
  export default asn1;
}
