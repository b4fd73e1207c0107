// SPDY/3 name/value header blocks (uncompressed form): a 32-bit pair count, then for each pair a 32-bit length and
// the name, a 32-bit length and the value. Names are lowercase; several values of one name are joined by NUL.

export type SpdyHeaders = Record<string, string[]>;

export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const names = Object.keys(headers);
  const parts: Buffer[] = [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(names.length);
  parts.push(count);
  for (const rawName of names) {
    const name = Buffer.from(rawName.toLowerCase(), 'utf8');
    const value = Buffer.from((headers[rawName] ?? []).join('\0'), 'utf8');
    const nl = Buffer.alloc(4);
    nl.writeUInt32BE(name.length);
    const vl = Buffer.alloc(4);
    vl.writeUInt32BE(value.length);
    parts.push(nl, name, vl, value);
  }
  return Buffer.concat(parts);
}

/** Decode one header block; throws on truncation or trailing bytes (the caller treats that as a protocol error). */
export function decodeHeaderBlock(buf: Buffer): SpdyHeaders {
  const headers: SpdyHeaders = {};
  let off = 0;
  const u32 = () => {
    if (off + 4 > buf.length) throw new Error('truncated header block');
    const v = buf.readUInt32BE(off);
    off += 4;
    return v;
  };
  const bytes = (n: number) => {
    if (off + n > buf.length) throw new Error('truncated header block');
    const s = buf.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  const pairs = u32();
  if (pairs > 1024) throw new Error(`header block has ${pairs} pairs`);
  for (let i = 0; i < pairs; i++) {
    const name = bytes(u32()).toLowerCase();
    const value = bytes(u32());
    (headers[name] ??= []).push(...value.split('\0'));
  }
  if (off !== buf.length) throw new Error(`header block has ${buf.length - off} trailing bytes`);
  return headers;
}

export function headerValue(headers: SpdyHeaders, name: string): string | undefined {
  return headers[name.toLowerCase()]?.[0];
}
