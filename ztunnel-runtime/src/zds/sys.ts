// The Unix-socket system calls ZDS needs and Node does not expose: AF_UNIX SOCK_SEQPACKET sockets, sendmsg/recvmsg
// with SCM_RIGHTS (passing a pod's netns fd), an eventfd to wake the poller, and poll(2), which is the only call made
// asynchronously (koffi's `.async`, on libuv's thread pool). Every other call here is non-blocking and runs on the
// main thread. Linux x86_64/arm64 layouts (LP64). Loaded lazily, like ../inpod/libc.ts.
import koffi, { type KoffiFunc } from 'koffi';
import { SOCK_CLOEXEC, SOCK_NONBLOCK, SOL_SOCKET, errnoError } from '../inpod/libc.js';

export { SOCK_CLOEXEC, SOCK_NONBLOCK };
export const AF_UNIX = 1;
export const SOCK_SEQPACKET = 5;
const SCM_RIGHTS = 1;
const MSG_CTRUNC = 0x8;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const F_DUPFD_CLOEXEC = 1030;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const SHUT_RDWR = 2;
export const POLLIN = 0x1;
/** sockaddr_un.sun_path is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH = 107;
/** Room for a few fds: a well-behaved peer sends at most one; extra ones are closed. */
const CONTROL_SPACE = 16 + 8 * 4;

interface UnixLib {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  listen(fd: number, backlog: number): number;
  accept4(fd: number, addr: null, len: null, flags: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  sendmsg(fd: number, msg: Msghdr, flags: number): number;
  recvmsg(fd: number, msg: Msghdr, flags: number): number;
  eventfd(initval: number, flags: number): number;
  read(fd: number, buf: Buffer, len: number): number;
  write(fd: number, buf: Buffer, len: number): number;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  fcntl(fd: number, cmd: number, ...rest: unknown[]): number;
  poll: KoffiFunc<(fds: Buffer, nfds: number, timeout: number) => number>;
  socketpair(domain: number, type: number, protocol: number, sv: number[]): number;
}

interface Msghdr {
  msg_name: null;
  msg_namelen: number;
  msg_iov: { iov_base: Buffer; iov_len: number }[];
  msg_iovlen: number;
  msg_control: Buffer | null;
  msg_controllen: number;
  msg_flags: number;
}

let unix: UnixLib | undefined;

function lib(): UnixLib {
  if (unix) return unix;
  const l = koffi.load('libc.so.6');
  koffi.struct('zds_iovec', { iov_base: 'void *', iov_len: 'size_t' });
  koffi.struct('zds_msghdr', {
    msg_name: 'void *',
    msg_namelen: 'uint32_t',
    msg_iov: 'zds_iovec *',
    msg_iovlen: 'size_t',
    msg_control: 'void *',
    msg_controllen: 'size_t',
    msg_flags: 'int',
  });
  unix = {
    socket: l.func('int socket(int domain, int type, int protocol)'),
    bind: l.func('int bind(int fd, const uint8_t *addr, uint32_t len)'),
    listen: l.func('int listen(int fd, int backlog)'),
    accept4: l.func('int accept4(int fd, void *addr, void *len, int flags)'),
    connect: l.func('int connect(int fd, const uint8_t *addr, uint32_t len)'),
    sendmsg: l.func('long sendmsg(int fd, const zds_msghdr *msg, int flags)'),
    recvmsg: l.func('long recvmsg(int fd, _Inout_ zds_msghdr *msg, int flags)'),
    eventfd: l.func('int eventfd(unsigned int initval, int flags)'),
    read: l.func('long read(int fd, _Out_ uint8_t *buf, size_t len)'),
    write: l.func('long write(int fd, const uint8_t *buf, size_t len)'),
    shutdown: l.func('int shutdown(int fd, int how)'),
    close: l.func('int close(int fd)'),
    fcntl: l.func('int fcntl(int fd, int cmd, ...)'),
    // The pollfd array is passed as raw bytes: it is read (and revents written) by the pool thread only.
    poll: l.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)'),
    socketpair: l.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)'),
  };
  return unix;
}

function sockaddrUn(path: string): Buffer {
  const p = Buffer.from(path);
  if (p.length === 0 || p.length > MAX_SOCKET_PATH) {
    throw new Error(`ZDS socket path ${JSON.stringify(path)} must be 1-${MAX_SOCKET_PATH} bytes (a Unix socket path limit); use a shorter path`);
  }
  const b = Buffer.alloc(2 + 108);
  b.writeUInt16LE(AF_UNIX, 0);
  p.copy(b, 2);
  return b;
}

/** A listening non-blocking SEQPACKET socket bound to `path` (which must not exist), with `mode` set before listen(2). */
export function listenSeqpacket(path: string, backlog: number, setMode: () => void): number {
  const L = lib();
  const addr = sockaddrUn(path);
  const fd = L.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw errnoError('socket(AF_UNIX, SOCK_SEQPACKET)');
  try {
    if (L.bind(fd, addr, addr.length) !== 0) throw errnoError(`bind(${path})`);
    setMode(); // before listen: nobody can connect with the umask's mode in between
    if (L.listen(fd, backlog) !== 0) throw errnoError(`listen(${path})`);
  } catch (e) {
    L.close(fd);
    throw e;
  }
  return fd;
}

/** Next pending connection as a non-blocking fd, or -1 when there is none right now. */
export function acceptSeqpacket(fd: number): number {
  const c = lib().accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c >= 0) return c;
  const err = errnoError('accept4');
  if (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK' || err.code === 'ECONNABORTED' || err.code === 'EINTR') return -1;
  throw err;
}

/** A connected non-blocking SEQPACKET socket (AF_UNIX connect completes at once or fails: ENOENT, ECONNREFUSED, EAGAIN). */
export function connectSeqpacket(path: string): number {
  const L = lib();
  const addr = sockaddrUn(path);
  const fd = L.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw errnoError('socket(AF_UNIX, SOCK_SEQPACKET)');
  if (L.connect(fd, addr, addr.length) !== 0) {
    const err = errnoError(`connect(${path})`);
    L.close(fd);
    throw err;
  }
  return fd;
}

/** A connected SEQPACKET pair (tests, and anything that wants a private channel). */
export function seqpacketPair(): [number, number] {
  const sv = [-1, -1];
  if (lib().socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) !== 0) throw errnoError('socketpair');
  return [sv[0]!, sv[1]!];
}

/**
 * Sends one message (one datagram of the SEQPACKET stream), with `fds` as SCM_RIGHTS. Never blocks: a full socket
 * buffer (EAGAIN) is reported as an error, as is a closed peer (EPIPE, without SIGPIPE).
 */
export function sendMessage(fd: number, data: Buffer, fds: number[] = []): void {
  let control: Buffer | null = null;
  if (fds.length > 0) {
    const len = 16 + 4 * fds.length; // CMSG_LEN
    control = Buffer.alloc((len + 7) & ~7); // CMSG_SPACE
    control.writeBigUInt64LE(BigInt(len), 0);
    control.writeInt32LE(SOL_SOCKET, 8);
    control.writeInt32LE(SCM_RIGHTS, 12);
    fds.forEach((f, i) => control!.writeInt32LE(f, 16 + 4 * i));
  }
  const msg: Msghdr = {
    msg_name: null,
    msg_namelen: 0,
    msg_iov: [{ iov_base: data, iov_len: data.length }],
    msg_iovlen: 1,
    msg_control: control,
    msg_controllen: control?.length ?? 0,
    msg_flags: 0,
  };
  const n = lib().sendmsg(fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) throw errnoError('sendmsg');
  if (n !== data.length) throw new Error(`sendmsg sent ${n} of ${data.length} bytes`);
}

export type Received =
  | { kind: 'message'; data: Buffer; fds: number[]; truncated: boolean }
  | { kind: 'again' }
  | { kind: 'eof' };

/**
 * Receives one message without blocking. Received fds are close-on-exec (MSG_CMSG_CLOEXEC) and owned by the caller.
 * A message longer than `maxBytes` comes back `truncated` (its tail is discarded by the kernel).
 */
export function recvMessage(fd: number, maxBytes: number): Received {
  const data = Buffer.alloc(maxBytes + 1);
  const control = Buffer.alloc(CONTROL_SPACE);
  const msg: Msghdr = {
    msg_name: null,
    msg_namelen: 0,
    msg_iov: [{ iov_base: data, iov_len: data.length }],
    msg_iovlen: 1,
    msg_control: control,
    msg_controllen: control.length,
    msg_flags: 0,
  };
  const n = lib().recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    const err = errnoError('recvmsg');
    if (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK' || err.code === 'EINTR') return { kind: 'again' };
    if (err.code === 'ECONNRESET') return { kind: 'eof' };
    throw err;
  }
  const fds = parseRights(control, Number(msg.msg_controllen));
  if (n === 0 && fds.length === 0) return { kind: 'eof' };
  const truncated = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) !== 0 || n > maxBytes;
  return { kind: 'message', data: data.subarray(0, Math.min(n, maxBytes)), fds, truncated };
}

function parseRights(control: Buffer, length: number): number[] {
  const fds: number[] = [];
  let off = 0;
  while (off + 16 <= length) {
    const len = Number(control.readBigUInt64LE(off));
    if (len < 16 || off + len > length) break;
    if (control.readInt32LE(off + 8) === SOL_SOCKET && control.readInt32LE(off + 12) === SCM_RIGHTS) {
      for (let p = off + 16; p + 4 <= off + len; p += 4) fds.push(control.readInt32LE(p));
    }
    off += (len + 7) & ~7;
  }
  return fds;
}

/** A close-on-exec duplicate of `fd` (the caller owns it). */
export function dupFd(fd: number): number {
  const d = lib().fcntl(fd, F_DUPFD_CLOEXEC, 'int', 0);
  if (d < 0) throw errnoError('fcntl(F_DUPFD_CLOEXEC)');
  return d;
}

export function closeFd(fd: number): void {
  if (fd >= 0) lib().close(fd);
}

/** Wakes a blocked recv/poll on the other end and on this one; the fd still needs closeFd. */
export function shutdownFd(fd: number): void {
  lib().shutdown(fd, SHUT_RDWR);
}

export function createEventFd(): number {
  const fd = lib().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw errnoError('eventfd');
  return fd;
}

const one = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
export function signalEventFd(fd: number): void {
  lib().write(fd, one, 8);
}

export function drainEventFd(fd: number): void {
  lib().read(fd, Buffer.alloc(8), 8);
}

/** poll(2) on the thread pool, without timeout; `pollfds` is `struct pollfd[]` (8 bytes each). */
export function pollAsync(pollfds: Buffer, count: number, done: (err: Error | null, ready: number) => void): void {
  // errno of a failed poll lives on the pool thread: a negative result (EINTR in practice) is reported as 0 ready.
  lib().poll.async(pollfds, count, -1, (err: unknown, res: number) => done(err ? (err as Error) : null, Math.max(res ?? 0, 0)));
}
