// ZDS messages (version 1): small JSON objects, one per SEQPACKET message; an `add` carries the pod's netns fd as
// SCM_RIGHTS. Pure encode/decode with validation, so a malformed message becomes a clear error, never a crash.
//   ztunnel -> agent   {"type":"hello","version":1}            first message on every connection
//   agent -> ztunnel   {"type":"add","uid":…,"workload":{name,namespace,serviceAccount,ip}}   + 1 fd
//                      {"type":"del","uid":…}
//                      {"type":"snapshotSent"}                after replaying every known pod on a new connection
//   ztunnel -> agent   {"type":"ack"} or {"type":"ack","error":"…"}   one per agent message, in order

export const ZDS_VERSION = 1;
/** Largest message either side accepts; anything longer is dropped (a pod's add is ~200 bytes). */
export const MAX_MESSAGE_BYTES = 16 * 1024;
/** Where the agent listens and ztunnel connects (a hostPath both DaemonSets mount at the same path). */
export const DEFAULT_ZDS_SOCKET = '/var/run/ztunnel/ztunnel.sock';

/** What ztunnel learns about a pod (Istio's WorkloadInfo plus the pod IP). */
export interface WorkloadInfo {
  uid: string;
  name: string;
  namespace: string;
  serviceAccount: string;
  ip: string;
}

export type AgentMessage =
  | { type: 'add'; uid: string; workload: Omit<WorkloadInfo, 'uid'> }
  | { type: 'del'; uid: string }
  | { type: 'snapshotSent' };

export type ZtunnelMessage = { type: 'hello'; version: number } | { type: 'ack'; error?: string };

export class ZdsProtocolError extends Error {}

export function encode(msg: AgentMessage | ZtunnelMessage): Buffer {
  const b = Buffer.from(JSON.stringify(msg));
  if (b.length > MAX_MESSAGE_BYTES) throw new ZdsProtocolError(`message of ${b.length} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit`);
  return b;
}

function parseObject(data: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch {
    throw new ZdsProtocolError('message is not JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ZdsProtocolError('message is not a JSON object');
  return v as Record<string, unknown>;
}

const str = (o: Record<string, unknown>, k: string, where: string, allowEmpty = false): string => {
  const v = o[k];
  if (typeof v !== 'string' || (!allowEmpty && v === '')) throw new ZdsProtocolError(`${where}: "${k}" must be a non-empty string`);
  return v;
};

export function decodeAgentMessage(data: Buffer): AgentMessage {
  const o = parseObject(data);
  switch (o.type) {
    case 'add': {
      const uid = str(o, 'uid', 'add');
      const w = o.workload;
      if (w === null || typeof w !== 'object' || Array.isArray(w)) throw new ZdsProtocolError('add: "workload" must be an object');
      const wl = w as Record<string, unknown>;
      return {
        type: 'add',
        uid,
        workload: {
          name: str(wl, 'name', 'add.workload'),
          namespace: str(wl, 'namespace', 'add.workload'),
          serviceAccount: str(wl, 'serviceAccount', 'add.workload'),
          ip: str(wl, 'ip', 'add.workload'),
        },
      };
    }
    case 'del':
      return { type: 'del', uid: str(o, 'uid', 'del') };
    case 'snapshotSent':
      return { type: 'snapshotSent' };
    default:
      throw new ZdsProtocolError(`unknown message type ${JSON.stringify(o.type)} (expected add, del or snapshotSent)`);
  }
}

export function decodeZtunnelMessage(data: Buffer): ZtunnelMessage {
  const o = parseObject(data);
  switch (o.type) {
    case 'hello':
      if (typeof o.version !== 'number' || !Number.isInteger(o.version)) throw new ZdsProtocolError('hello: "version" must be an integer');
      return { type: 'hello', version: o.version };
    case 'ack':
      if (o.error !== undefined && typeof o.error !== 'string') throw new ZdsProtocolError('ack: "error" must be a string');
      return o.error ? { type: 'ack', error: o.error } : { type: 'ack' };
    default:
      throw new ZdsProtocolError(`unknown message type ${JSON.stringify(o.type)} (expected hello or ack)`);
  }
}

/** A WorkloadInfo the agent may send: every field a non-empty string. Throws a one-line error naming the field. */
export function checkWorkloadInfo(info: WorkloadInfo): void {
  for (const k of ['uid', 'name', 'namespace', 'serviceAccount', 'ip'] as const) {
    if (typeof info?.[k] !== 'string' || info[k] === '') throw new TypeError(`WorkloadInfo.${k} must be a non-empty string`);
  }
}
