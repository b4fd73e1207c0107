// Envoy-like local replies for upstream failures, with the response flags Istio reports.

export interface UpstreamFailure {
  status: number;
  body: string;
  flag: string;
}

export const NO_HEALTHY_UPSTREAM: UpstreamFailure = { status: 503, body: 'no healthy upstream', flag: 'UH' };
export const UPSTREAM_TIMEOUT: UpstreamFailure = { status: 504, body: 'upstream request timeout', flag: 'UT' };

export function connectFailure(reason: string): UpstreamFailure {
  return { status: 503, body: `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`, flag: 'UF' };
}

/** Classify an undici error: was the connection never established (retriable), reset, or timed out? */
export function classify(err: unknown): { kind: 'connect' | 'reset' | 'timeout' | 'aborted'; reason: string } {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  if (e?.name === 'AbortError' || code === 'UND_ERR_ABORTED') return { kind: 'aborted', reason: 'aborted' };
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || e?.name === 'TimeoutError') return { kind: 'timeout', reason: 'timeout' };
  if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'HBONE_CONNECT') {
    return { kind: 'connect', reason: 'connection failure' };
  }
  return { kind: 'reset', reason: 'connection termination' };
}
