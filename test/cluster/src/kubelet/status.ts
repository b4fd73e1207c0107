// metav1.Status bodies the kubelet writes: on the exec error stream (remotecommand v4) and for HTTP errors.

export interface Status {
  kind?: 'Status';
  apiVersion?: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason: string; message: string }[] };
  code?: number;
}

export const successStatus = (): Status => ({ metadata: {}, status: 'Success' });

/** Exit codes travel as an unsigned 8-bit number (client-go parses them with ParseUint(s, 10, 8)). */
export function wireExitCode(code: number): number {
  return Number.isInteger(code) && code >= 0 && code <= 255 ? code : 255;
}

export function exitCodeStatus(code: number): Status {
  const rc = wireExitCode(code);
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${rc}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(rc) }] },
  };
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  422: 'Invalid',
  500: 'InternalError',
};

export function errorStatus(code: number, message: string): Status {
  return { metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? 'InternalError', code };
}

/** A standalone Status document (HTTP error bodies): with kind and apiVersion. */
export function statusDocument(code: number, message: string): Status {
  return { kind: 'Status', apiVersion: 'v1', ...errorStatus(code, message) };
}

/** HTTP status for an error the runtime threw: its numeric `code` (NotFoundError 404, ContainerNotRunningError 400). */
export function runtimeErrorCode(err: unknown): number {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'number' && code >= 400 && code < 600) return code;
  const name = (err as { name?: unknown } | undefined)?.name;
  if (name === 'NotFoundError') return 404;
  return 500;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
