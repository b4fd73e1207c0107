// The few libc calls Node does not expose, through koffi (FFI): setns(2), socket(2), bind(2), getsockopt/setsockopt
// for SO_ORIGINAL_DST / SO_MARK / IP_TRANSPARENT, and ioctl(SIOCGSKNS) to ask which netns a socket lives in.
// Loaded lazily so that importing the package on a machine without libc.so.6 (or in a unit test) costs nothing.
import { constants as osConstants } from 'node:os';
import koffi from 'koffi';

export const CLONE_NEWNET = 0x40000000;
export const AF_INET = 2;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_REUSEPORT = 15;
export const SO_MARK = 36;
export const SOL_IP = 0;
export const IP_TRANSPARENT = 19;
/** `<linux/netfilter_ipv4.h>`: getsockopt(SOL_IP, SO_ORIGINAL_DST) returns the pre-NAT destination (sockaddr_in). */
export const SO_ORIGINAL_DST = 80;
/** `<linux/sockios.h>`: returns a new fd for the network namespace the socket belongs to. */
export const SIOCGSKNS = 0x894c;

interface Libc {
  setns(fd: number, nstype: number): number;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, val: Buffer, len: number): number;
  getsockopt(fd: number, level: number, name: number, val: Buffer, len: number[]): number;
  ioctl(fd: number, req: number, ...rest: unknown[]): number;
  close(fd: number): number;
}

let libc: Libc | undefined;

export function lib(): Libc {
  if (libc) return libc;
  const l = koffi.load('libc.so.6');
  libc = {
    setns: l.func('int setns(int fd, int nstype)'),
    socket: l.func('int socket(int domain, int type, int protocol)'),
    bind: l.func('int bind(int fd, const uint8_t *addr, uint32_t len)'),
    setsockopt: l.func('int setsockopt(int fd, int level, int name, const uint8_t *val, uint32_t len)'),
    getsockopt: l.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)'),
    ioctl: l.func('int ioctl(int fd, unsigned long req, ...)'),
    close: l.func('int close(int fd)'),
  };
  return libc;
}

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));

/** An Error for the last failed libc call, with `code` = `ENOENT`-style name and `errno` = the number. */
export function errnoError(call: string): NodeJS.ErrnoException {
  const errno = koffi.errno();
  const code = errnoNames.get(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${call} failed: ${code}`);
  err.code = code;
  err.errno = errno;
  err.syscall = call;
  return err;
}

/** struct sockaddr_in for an IPv4 address (network byte order). */
export function sockaddrIn(ip: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0); // sa_family_t is host order
  b.writeUInt16BE(port, 2);
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new TypeError(`not an IPv4 address: ${ip}`);
  }
  Buffer.from(parts).copy(b, 4);
  return b;
}

export function parseSockaddrIn(b: Buffer): { address: string; port: number } {
  return { address: `${b[4]}.${b[5]}.${b[6]}.${b[7]}`, port: b.readUInt16BE(2) };
}

export function uint32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
