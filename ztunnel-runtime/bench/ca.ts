// The controller's CA as the shared-mode ztunnels reach it (CA_ADDRESS, `POST /v1/certificates` over HTTP/2 TLS
// with a bearer token): played by the bench on loopback, signing each CSR for the identity ztunnel asks for.
import http2 from 'node:http2';
import { CERTIFICATES_PATH, issueServingCertificate, signCsr, type CertificateAuthority, type CertificateRequest } from '@ambit/mesh-api';

export interface BenchCa {
  address: string;
  close(): Promise<void>;
}

export async function startCa(ca: CertificateAuthority, token: string): Promise<BenchCa> {
  const serving = issueServingCertificate(ca, { dnsNames: ['istiod.istio-system.svc'], ipAddresses: ['127.0.0.1'] });
  const server = http2.createSecureServer({ cert: serving.certPem, key: serving.keyPem });
  server.on('stream', (stream, headers) => {
    const reply = (status: number, body: unknown) => {
      stream.respond({ ':status': status, 'content-type': 'application/json' });
      stream.end(JSON.stringify(body));
    };
    if (headers[':path'] !== CERTIFICATES_PATH || headers.authorization !== `Bearer ${token}`) return reply(403, { error: 'bench CA: wrong path or token' });
    let text = '';
    stream.on('data', (d: Buffer) => (text += d));
    stream.on('end', () => {
      try {
        const req = JSON.parse(text) as CertificateRequest;
        const identity = req.impersonatedIdentity;
        if (!identity) return reply(400, { error: 'bench CA: impersonatedIdentity missing' });
        reply(200, { certChain: signCsr(ca, req.csr, { identity, ttlSeconds: req.validitySeconds }), roots: [ca.certPem] });
      } catch (e) {
        reply(400, { error: `bench CA: ${(e as Error).message}` });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    address: `https://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
