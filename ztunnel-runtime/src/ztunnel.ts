// A ztunnel instance. Explicit mode (no root): serves local workloads on loopback addresses: an HBONE listener per
// workload (`<ip>:15008` by default), outbound listeners where the app connects (fixed target or SOCKS5),
// optional plaintext inbound listeners; admin/readiness/stats servers.
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { AdminServers } from './admin/server.js';
import { parseHostPort, type ZtunnelConfig } from './config/config.js';
import {
  CertificateManager,
  createRootCA,
  HboneServer,
  identityOf,
  loadCA,
  LocalCA,
  logger,
  type CertificateSource,
  type Workload,
} from '@ambit/mesh-api';
import { ProxyContext } from './proxy/context.js';
import { InboundProxy } from './proxy/inbound.js';
import { handleOutbound } from './proxy/outbound.js';
import { ignoreError, holdUntilClose } from './proxy/socket-set.js';
import { socks5Handshake } from './proxy/socks5.js';
import { loadLocalConfig, parseLocalConfig } from './state/local.js';
import { MeshStore } from '@ambit/mesh-api';

const log = logger('ztunnel');

export interface ZtunnelOptions {
  store?: MeshStore;
  certificateSource?: CertificateSource;
}

export interface ZtunnelPorts {
  admin?: number;
  readiness?: number;
  stats?: number;
  /** uid -> HBONE port */
  hbone: Record<string, number>;
  /** uid -> outbound listener ports, in config order */
  outbound: Record<string, number[]>;
}

export class Ztunnel {
  readonly store: MeshStore;
  readonly certs: CertificateManager;
  readonly ctx: ProxyContext;
  readonly inbound: InboundProxy;
  private readonly admin: AdminServers;
  private readonly hboneServers = new Map<string, HboneServer>();
  private readonly listeners: net.Server[] = [];
  private readonly outboundSockets = new Set<net.Socket>();
  private ready = false;
  private draining = false;

  constructor(
    readonly config: ZtunnelConfig,
    opts: ZtunnelOptions = {},
  ) {
    this.store = opts.store ?? new MeshStore();
    let source = opts.certificateSource;
    if (!source) {
      const ca = config.ca ? loadCA({ certPem: readFileSync(config.ca.certPath, 'utf8'), keyPem: readFileSync(config.ca.keyPath, 'utf8') }) : createRootCA();
      source = new LocalCA(ca, config.secretTtlSeconds);
    }
    this.certs = new CertificateManager(source, { log: (level, msg) => log[level](msg) });
    this.ctx = new ProxyContext(this.store, this.certs, {
      settings: { clusterId: config.clusterId, network: config.network, hbonePort: config.hbonePort },
      poolMaxStreams: config.poolMaxStreams,
      poolIdleMs: config.poolIdleMs,
    });
    this.inbound = new InboundProxy(this.ctx);
    this.admin = new AdminServers({
      // Not ready while a served certificate has expired and renewal fails (the manager logs why, per identity).
      ready: () => this.ready && !this.draining && this.certs.expired().length === 0,
      configDump: () => this.configDump(),
      metrics: () => this.ctx.metrics.render(),
      quit: () => void this.drain().then(() => this.stop()),
    });
    this.certs.on('updated', (identity: string, cert) => {
      for (const [uid, srv] of this.hboneServers) {
        const w = this.store.workloads.get(uid);
        if (w && identityOf(w) === identity) srv.setCertificate(cert);
      }
    });
  }

  private workloadFor(sel: { uid?: string; ip?: string }): Workload {
    const w = sel.uid ? this.store.workloads.get(sel.uid) : sel.ip ? this.store.workloadByIp(sel.ip, this.config.network) : undefined;
    if (!w) throw new Error(`explicit workload ${sel.uid ?? sel.ip} is not in the mesh config`);
    return w;
  }

  /** Loads the local config (if any), opens listeners, becomes ready. */
  async start(): Promise<ZtunnelPorts> {
    if (this.config.localXdsPath) this.store.applyFull(loadLocalConfig(this.config.localXdsPath));
    else if (this.config.localXds) this.store.applyFull(parseLocalConfig(this.config.localXds));
    const ports: ZtunnelPorts = { hbone: {}, outbound: {} };
    for (const ew of this.config.explicit.workloads) {
      const w = this.workloadFor(ew);
      ports.hbone[w.uid] = await this.serveHbone(w, ew.hboneAddr ? parseHostPort(ew.hboneAddr) : { host: w.workloadIps[0]!, port: this.config.hbonePort });
      ports.outbound[w.uid] = [];
      for (const o of ew.outbound ?? []) {
        ports.outbound[w.uid]!.push(await this.serveOutbound(w, parseHostPort(o.listen), o.target ? parseHostPort(o.target) : undefined));
      }
      for (const p of ew.plaintext ?? []) await this.servePlaintext(w, parseHostPort(p.listen), p.targetPort);
    }
    Object.assign(ports, await this.admin.start({ admin: this.config.adminAddr, readiness: this.config.readinessAddr, stats: this.config.statsAddr }));
    this.ready = true;
    return ports;
  }

  /** Opens the HBONE listener of a local workload. Returns the port. */
  async serveHbone(w: Workload, addr: { host: string; port: number }): Promise<number> {
    const cert = await this.certs.get(identityOf(w));
    const srv = new HboneServer({
      certificate: cert,
      trustDomain: w.trustDomain || this.config.trustDomain,
      onTunnel: (t) => {
        const current = this.store.workloads.get(w.uid) ?? w;
        void this.inbound.handleTunnel(current, t);
      },
    });
    const a = await srv.listen(addr.port, addr.host);
    this.hboneServers.set(w.uid, srv);
    return a.port;
  }

  /** An outbound listener for `w`: fixed `target`, or SOCKS5 when undefined. Returns the port. */
  serveOutbound(w: Workload, addr: { host: string; port: number }, target?: { host: string; port: number }): Promise<number> {
    const srv = net.createServer({ allowHalfOpen: true, noDelay: true }, (sock) => {
      holdUntilClose(this.outboundSockets, sock);
      sock.on('error', ignoreError);
      const source = this.store.workloads.get(w.uid) ?? w;
      if (target) {
        void handleOutbound(this.ctx, sock, source, { ip: target.host, port: target.port });
      } else {
        socks5Handshake(sock).then(
          (dst) => handleOutbound(this.ctx, sock, source, dst),
          (e) => {
            log.debug('socks5 handshake failed', { error: (e as Error).message });
            sock.destroy();
          },
        );
      }
    });
    return this.listen(srv, addr);
  }

  /** A plaintext inbound listener (15006 role) delivering to `targetPort` of `w`. */
  servePlaintext(w: Workload, addr: { host: string; port: number }, targetPort: number): Promise<number> {
    const srv = net.createServer({ allowHalfOpen: true, noDelay: true }, (sock) => {
      const local = this.store.workloads.get(w.uid) ?? w;
      void this.inbound.handlePlaintext(local, sock, { ip: local.workloadIps[0]!, port: targetPort });
    });
    return this.listen(srv, addr);
  }

  private listen(srv: net.Server, addr: { host: string; port: number }): Promise<number> {
    this.listeners.push(srv);
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(addr.port, addr.host, () => {
        srv.off('error', reject);
        resolve((srv.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops accepting; waits for open connections up to the deadline, then closes them. */
  async drain(deadlineMs = this.config.drainDeadlineMs): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    log.info('draining', `deadline=${deadlineMs}ms`);
    for (const l of this.listeners) l.close();
    const hboneClosed = [...this.hboneServers.values()].map((s) => s.close());
    const until = Date.now() + deadlineMs;
    while (Date.now() < until && (this.inbound.openConnections > 0 || this.outboundSockets.size > 0)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.inbound.closeAll('connection drained');
    for (const s of this.outboundSockets) s.destroy();
    for (const s of this.hboneServers.values()) s.destroy();
    await Promise.race([Promise.all(hboneClosed), new Promise((r) => setTimeout(r, 100))]);
  }

  async stop(): Promise<void> {
    this.ready = false;
    for (const l of this.listeners) l.close();
    for (const s of this.outboundSockets) s.destroy();
    for (const s of this.hboneServers.values()) s.destroy();
    this.inbound.closeAll('shutdown');
    this.inbound.dispose();
    this.ctx.hbone.destroy();
    this.certs.close();
    await this.admin.close();
  }

  /** The model and certificates (no private keys). */
  configDump(): unknown {
    const cfg = this.store.toConfig();
    return {
      workloads: cfg.workloads,
      services: cfg.services,
      policies: cfg.policies,
      certificates: this.certs.dump(),
      config: { ...this.config, localXds: this.config.localXds ? '<inline>' : undefined },
    };
  }
}
