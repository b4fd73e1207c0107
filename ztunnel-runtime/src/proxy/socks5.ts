// Minimal SOCKS5 CONNECT (no auth, IPv4/IPv6/literal-IP domain) for explicit-mode outbound listeners,
// like ztunnel's optional 15080 listener. Resolves to the requested destination.
import * as net from 'node:net';

function readExactly(sock: net.Socket, n: number, state: { buf: Buffer }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tryRead = () => {
      if (state.buf.length >= n) {
        const out = state.buf.subarray(0, n);
        state.buf = state.buf.subarray(n);
        cleanup();
        resolve(out);
      }
    };
    const onData = (d: Buffer) => {
      state.buf = Buffer.concat([state.buf, d]);
      tryRead();
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('socks5: client closed during handshake'));
    };
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('error', onEnd);
    };
    sock.on('data', onData);
    sock.once('end', onEnd);
    sock.once('error', onEnd);
    tryRead();
  });
}

export async function socks5Handshake(sock: net.Socket): Promise<{ ip: string; port: number }> {
  const st = { buf: Buffer.alloc(0) };
  const [ver, n] = await readExactly(sock, 2, st);
  if (ver !== 5) throw new Error('socks5: bad version');
  await readExactly(sock, n!, st);
  sock.write(Buffer.from([5, 0]));
  const [v2, cmd, , atyp] = await readExactly(sock, 4, st);
  const fail = (code: number, msg: string): never => {
    sock.end(Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
    throw new Error(`socks5: ${msg}`);
  };
  if (v2 !== 5 || cmd !== 1) fail(7, 'only CONNECT is supported');
  let ip = '';
  if (atyp === 1) ip = [...(await readExactly(sock, 4, st))].join('.');
  else if (atyp === 4) {
    const b = await readExactly(sock, 16, st);
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
    ip = parts.join(':');
  } else if (atyp === 3) {
    const [len] = await readExactly(sock, 1, st);
    ip = (await readExactly(sock, len!, st)).toString();
    if (!net.isIP(ip)) fail(8, `hostnames are not supported: ${ip}`);
  } else fail(8, 'bad address type');
  const port = (await readExactly(sock, 2, st)).readUInt16BE(0);
  sock.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
  if (st.buf.length > 0) sock.unshift(st.buf);
  return { ip, port };
}
