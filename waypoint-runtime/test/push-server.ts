// A stand-in for the controller's push stream (`POST /v1/stream` on :15012, TLS with a test root) on loopback: the
// test (or bench) writes the messages, full or delta, and reads the client's ACKs and NACKs. One client at a time.

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createRootCA, issueServingCertificate, type PushMessage, type PushReply, type WaypointConfig } from '@ambit/mesh-api';

export type AckOrNack = { ack: string } | { nack: string; error: string };

export class FakePushServer {
  readonly rootPem: string;
  readonly #server: http2.Http2SecureServer;
  #stream?: http2.ServerHttp2Stream;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  #connected?: () => void;
  #whenConnected: Promise<void>;
  readonly #replies: AckOrNack[] = [];
  #waiter?: () => void;

  private constructor() {
    const ca = createRootCA();
    const serving = issueServingCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    this.rootPem = ca.certPem;
    this.#whenConnected = new Promise((r) => (this.#connected = r));
    this.#server = http2.createSecureServer({ cert: serving.certPem, key: serving.keyPem });
    this.#server.on('session', (s) => {
      this.#sessions.add(s);
      s.on('close', () => this.#sessions.delete(s));
    });
    this.#server.on('stream', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
      stream.setEncoding('utf8');
      let buf = '';
      stream.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const reply = JSON.parse(buf.slice(0, i)) as PushReply;
          buf = buf.slice(i + 1);
          if ('status' in reply) continue;
          this.#replies.push(reply);
          this.#waiter?.();
        }
      });
      stream.on('error', () => {});
      this.#stream = stream;
      this.#connected?.();
    });
  }

  static async start(): Promise<FakePushServer> {
    const s = new FakePushServer();
    await new Promise<void>((r) => s.#server.listen(0, '127.0.0.1', () => r()));
    return s;
  }

  /** What a ConfigClient (or ControllerConfigSource) needs to reach this server. */
  get target(): { address: string; rootCert: string; token: string } {
    return { address: `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`, rootCert: this.rootPem, token: 'test-token' };
  }

  connected(): Promise<void> {
    return this.#whenConnected;
  }

  /** Writes one message (an object, or its JSON text when the caller serialized it already). */
  send(msg: PushMessage<Partial<WaypointConfig>> | string): void {
    this.#stream!.write((typeof msg === 'string' ? msg : JSON.stringify(msg)) + '\n');
  }

  /** The client's next ACK or NACK (status reports skipped). */
  async nextReply(): Promise<AckOrNack> {
    while (this.#replies.length === 0) await new Promise<void>((r) => (this.#waiter = r));
    return this.#replies.shift()!;
  }

  /** Sends `msg` and resolves with the client's answer to it. */
  async push(msg: PushMessage<Partial<WaypointConfig>> | string): Promise<AckOrNack> {
    this.send(msg);
    return this.nextReply();
  }

  async close(): Promise<void> {
    this.#stream?.close();
    for (const s of this.#sessions) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
