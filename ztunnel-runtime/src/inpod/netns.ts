// Network-namespace helpers for in-pod mode: open a pod's netns, create sockets inside it, read SO_ORIGINAL_DST,
// set SO_MARK.
//
// How sockets end up in the pod's netns (measured on Node 24 / Linux 6.x, see test/integration/inpod-netns.test.ts):
// a socket belongs to the netns its creating *thread* was in when socket(2) ran, for its whole life; bind, listen,
// connect, accept can happen later from anywhere. So we switch the calling thread with setns(2), call socket(2)
// through koffi, and switch back, all synchronously (`runInNetns`), then hand the fd to Node:
// - listeners: bind(2) the fd ourselves (IPv4, SO_REUSEADDR) and `server.listen({ fd })`;
// - outbound: `new net.Socket({ fd, manualStart: true }).connect(port, host)`: Node's own connect, 'connect' and
//   'error' events, timeouts; `manualStart` keeps Node from starting a read on the not-yet-connected fd.
// `net.connect()` or `server.listen(port, host)` inside setns do NOT work: Node creates those sockets on a later
// tick, when the thread is back in its own netns. `server.listen(port)` (port only) happens to bind synchronously
// and also works, but it binds `::` (dual stack, `::ffff:` peer addresses); the fd route gives plain IPv4.
// A worker_thread parked in the pod netns works too, but its sockets live on the worker's event loop; the proxies run
// on the main loop, so the synchronous switch is the simpler and (300/300 in the test) reliable choice.
import fs from 'node:fs';
import net from 'node:net';
import {
  AF_INET,
  CLONE_NEWNET,
  IP_TRANSPARENT,
  SIOCGSKNS,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_IP,
  SOL_SOCKET,
  SO_MARK,
  SO_ORIGINAL_DST,
  SO_REUSEADDR,
  SO_REUSEPORT,
  errnoError,
  lib,
  parseSockaddrIn,
  sockaddrIn,
  uint32,
} from './libc.js';

/** ztunnel's default PACKET_MARK: sockets carrying it are not captured by the in-pod rules. */
export const INPOD_MARK = 1337;
const NS_GET_NSTYPE = 0xb703;

/** An open network namespace (an fd on its nsfs file). Close it when the pod goes away. */
export class Netns {
  #fd: number;
  /** Not opened through node:fs (received over ZDS): closed with close(2), which Node does not warn about. */
  readonly #foreign: boolean;
  private constructor(
    readonly path: string,
    fd: number,
    /** nsfs inode: equal inodes = same namespace. */
    readonly inode: number,
    foreign = false,
  ) {
    this.#fd = fd;
    this.#foreign = foreign;
  }

  /** Opens `path` (a CNI_NETNS path, `/proc/<pid>/ns/net`…); throws if it is not a network namespace. */
  static open(path: string): Netns {
    const fd = fs.openSync(path, fs.constants.O_RDONLY);
    try {
      const type = lib().ioctl(fd, NS_GET_NSTYPE);
      if (type !== CLONE_NEWNET) throw new Error(`${path} is not a network namespace`);
      return new Netns(path, fd, fs.fstatSync(fd).ino);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /**
   * Wraps an fd received from elsewhere (ZDS: the node agent's SCM_RIGHTS), labelled `label` in logs and errors.
   * Takes ownership: the fd is closed by `close()`, and right away if it is not a network namespace.
   */
  static fromFd(fd: number, label: string): Netns {
    try {
      if (!Number.isInteger(fd) || fd < 0) throw new Error(`${label}: ${fd} is not a file descriptor`);
      const type = lib().ioctl(fd, NS_GET_NSTYPE);
      if (type !== CLONE_NEWNET) throw new Error(`${label} (fd ${fd}) is not a network namespace`);
      return new Netns(label, fd, fs.fstatSync(fd).ino, true);
    } catch (e) {
      if (Number.isInteger(fd) && fd >= 0) lib().close(fd);
      throw e;
    }
  }

  /** The calling thread's current network namespace. */
  static current(): Netns {
    return Netns.open('/proc/thread-self/ns/net');
  }

  get fd(): number {
    if (this.#fd < 0) throw new Error(`netns ${this.path} is closed`);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  close(): void {
    if (this.#fd >= 0) {
      if (this.#foreign) lib().close(this.#fd);
      else fs.closeSync(this.#fd);
    }
    this.#fd = -1;
  }
}

/** nsfs inode of the calling thread's network namespace. */
export function currentNetnsInode(): number {
  return fs.statSync('/proc/thread-self/ns/net').ino;
}

let home: number | undefined;
const entered: number[] = [];

/**
 * Runs `fn` with the calling thread inside `ns`, then switches back (also on throw). `fn` must be synchronous: only
 * sockets whose socket(2) call happens during `fn` land in `ns`. Nested calls return to the enclosing namespace.
 */
export function runInNetns<T>(ns: Netns, fn: () => T): T {
  const L = lib();
  home ??= fs.openSync('/proc/thread-self/ns/net', fs.constants.O_RDONLY);
  const back = entered.length > 0 ? entered[entered.length - 1]! : home;
  if (L.setns(ns.fd, CLONE_NEWNET) !== 0) throw errnoError(`setns(${ns.path})`);
  entered.push(ns.fd);
  try {
    const r = fn();
    if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
      throw new TypeError('runInNetns: fn must be synchronous (work after an await runs in the original netns)');
    }
    return r;
  } finally {
    entered.pop();
    if (L.setns(back, CLONE_NEWNET) !== 0) {
      // Never seen; if it happened, every later socket of this thread would be created in the pod's netns.
      const err = errnoError('setns(back)');
      process.emitWarning(`inpod: cannot return to the original network namespace: ${err.message}`);
      throw err;
    }
  }
}

export interface TcpSocketOptions {
  /** SO_MARK (needs CAP_NET_ADMIN). */
  mark?: number;
  /** IP_TRANSPARENT: allows binding a non-local `localAddress` (source spoofing). */
  transparent?: boolean;
  reuseAddr?: boolean;
  /** SO_REUSEPORT: several sockets (of the same user) bind the same port; the kernel spreads connections. */
  reusePort?: boolean;
  /** bind(2) before use; with only `localPort`, binds 0.0.0.0. */
  localAddress?: string;
  localPort?: number;
}

/**
 * A raw non-blocking IPv4 TCP socket fd created inside `ns` (or the current netns when `ns` is undefined), with the
 * options applied. The caller owns the fd (hand it to Node, which then closes it).
 */
export function createTcpSocketFd(ns: Netns | undefined, opts: TcpSocketOptions = {}): number {
  const L = lib();
  const make = () => L.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const fd = ns ? runInNetns(ns, make) : make();
  if (fd < 0) throw errnoError('socket');
  try {
    if (opts.reuseAddr) setOpt(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'SO_REUSEADDR');
    if (opts.reusePort) setOpt(fd, SOL_SOCKET, SO_REUSEPORT, 1, 'SO_REUSEPORT');
    if (opts.mark !== undefined) setOpt(fd, SOL_SOCKET, SO_MARK, opts.mark, 'SO_MARK');
    if (opts.transparent) setOpt(fd, SOL_IP, IP_TRANSPARENT, 1, 'IP_TRANSPARENT');
    if (opts.localAddress !== undefined || opts.localPort !== undefined) {
      const addr = sockaddrIn(opts.localAddress ?? '0.0.0.0', opts.localPort ?? 0);
      if (L.bind(fd, addr, addr.length) !== 0) {
        throw errnoError(`bind(${opts.localAddress ?? '0.0.0.0'}:${opts.localPort ?? 0})`);
      }
    }
  } catch (e) {
    L.close(fd);
    throw e;
  }
  return fd;
}

function setOpt(fd: number, level: number, name: number, value: number, label: string): void {
  const v = uint32(value);
  if (lib().setsockopt(fd, level, name, v, v.length) !== 0) throw errnoError(`setsockopt(${label})`);
}

export interface ListenOptions {
  /** IPv4 address to bind; default 0.0.0.0 (ztunnel binds its in-pod listeners on the wildcard). */
  host?: string;
  backlog?: number;
  mark?: number;
  /** SO_REUSEPORT (see TcpSocketOptions). */
  reusePort?: boolean;
  /** Listen with this server (net.Server, tls.Server, …) instead of a new net.Server. */
  server?: net.Server;
}

/** A server listening on `host:port` inside `ns`. Resolves once listening; rejects (EADDRINUSE, …) otherwise. */
export async function listenInNetns(ns: Netns, port: number, opts: ListenOptions = {}): Promise<net.Server> {
  const fd = createTcpSocketFd(ns, { reuseAddr: true, reusePort: opts.reusePort, mark: opts.mark, localAddress: opts.host ?? '0.0.0.0', localPort: port });
  const server = opts.server ?? net.createServer();
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    try {
      server.listen({ fd, backlog: opts.backlog ?? 511 }, () => {
        server.off('error', onError);
        resolve();
      });
    } catch (e) {
      lib().close(fd);
      server.off('error', onError);
      reject(e);
    }
  });
  return server;
}

export interface PodConnectOptions {
  /** SO_MARK; default 1337 so the in-pod rules do not capture ztunnel's own connection. */
  mark?: number;
  /**
   * Source address to bind. A non-local address (the original client, for inbound source spoofing) needs
   * `transparent` and the in-pod routes (`applyRules` installs them).
   */
  localAddress?: string;
  transparent?: boolean;
  noDelay?: boolean;
}

/**
 * Connects to `host:port` (IPv4) from inside `ns` with SO_MARK. Returns at once, like `net.connect`: listen for
 * 'connect' / 'error'.
 */
export function connectInNetns(ns: Netns, host: string, port: number, opts: PodConnectOptions = {}): net.Socket {
  const fd = createTcpSocketFd(ns, {
    mark: opts.mark ?? INPOD_MARK,
    transparent: opts.transparent,
    ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
  });
  let socket: net.Socket;
  try {
    // manualStart: do not read(0) a socket that is not connected yet (Node's undocumented child_process option).
    socket = new net.Socket({ fd, manualStart: true } as net.SocketConstructorOpts);
  } catch (e) {
    lib().close(fd);
    throw e;
  }
  if (opts.noDelay ?? true) socket.setNoDelay(true);
  return socket.connect({ host, port, family: 4 });
}

/** Socket factory shape the HBONE client and the proxies take. */
export type PodSocketFactory = (host: string, port: number, sourceIp?: string) => net.Socket;

export interface PodSocketFactoryOptions {
  mark?: number;
  /**
   * Bind `sourceIp` when the caller passes one. For outbound that is the pod's own IP (a local address); for
   * inbound with source spoofing it is the remote client, which needs IP_TRANSPARENT (set automatically).
   */
  bindSourceIp?: boolean;
}

/**
 * `(host, port, sourceIp?) => net.Socket`: every socket is created inside the pod's netns and marked 1337, so the
 * pod's rules let it through (not captured again) and it leaves from the pod's own interface and IP. Never throws:
 * errors (also "netns closed" once the pod is gone) come as the socket's 'error' event.
 */
export function createPodSocketFactory(ns: Netns, opts: PodSocketFactoryOptions = {}): PodSocketFactory {
  return (host, port, sourceIp) => {
    try {
      return connectInNetns(ns, host, port, {
        mark: opts.mark ?? INPOD_MARK,
        ...(opts.bindSourceIp && sourceIp ? { localAddress: sourceIp, transparent: true } : {}),
      });
    } catch (e) {
      // Like net.connect: failures (netns closed because the pod left, EMFILE, bind errors) arrive as 'error'.
      const failed = new net.Socket();
      process.nextTick(() => failed.destroy(e as Error));
      return failed;
    }
  };
}

/** The fd under a connected/accepted net.Socket (Unix only). */
export function socketFd(socket: net.Socket | net.Server): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no fd (closed, or not a TCP socket)');
  return fd;
}

export interface SocketAddress {
  address: string;
  port: number;
}

/**
 * The destination the client dialled before the in-pod REDIRECT rewrote it (getsockopt SOL_IP SO_ORIGINAL_DST). For
 * a connection that was not NATed conntrack reports its real destination; where conntrack has no entry at all
 * (ENOENT) this falls back to the socket's local address.
 */
export function getOriginalDst(socket: net.Socket | number): SocketAddress {
  const fd = typeof socket === 'number' ? socket : socketFd(socket);
  const buf = Buffer.alloc(16);
  const len = [buf.length];
  if (lib().getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, buf, len) !== 0) {
    const err = errnoError('getsockopt(SO_ORIGINAL_DST)');
    if (err.code === 'ENOENT' && typeof socket !== 'number' && socket.localAddress && socket.localPort) {
      return { address: unmapV4(socket.localAddress), port: socket.localPort };
    }
    throw err;
  }
  return parseSockaddrIn(buf);
}

export function setSocketMark(socket: net.Socket | number, mark: number): void {
  setOpt(typeof socket === 'number' ? socket : socketFd(socket), SOL_SOCKET, SO_MARK, mark, 'SO_MARK');
}

export function getSocketMark(socket: net.Socket | net.Server | number): number {
  const buf = Buffer.alloc(4);
  const fd = typeof socket === 'number' ? socket : socketFd(socket);
  if (lib().getsockopt(fd, SOL_SOCKET, SO_MARK, buf, [4]) !== 0) throw errnoError('getsockopt(SO_MARK)');
  return buf.readUInt32LE(0);
}

/** nsfs inode of the netns a socket belongs to (ioctl SIOCGSKNS): compare with `Netns.inode`. */
export function socketNetnsInode(socket: net.Socket | net.Server | number): number {
  const fd = typeof socket === 'number' ? socket : socketFd(socket);
  const nsfd = lib().ioctl(fd, SIOCGSKNS);
  if (nsfd < 0) throw errnoError('ioctl(SIOCGSKNS)');
  try {
    return fs.fstatSync(nsfd).ino;
  } finally {
    lib().close(nsfd); // not fs.closeSync: Node warns about closing fds its fs did not open
  }
}

export function unmapV4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
