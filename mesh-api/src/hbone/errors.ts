/** Why an HBONE tunnel could not be opened; `responseFlags` is the metric label value. */
export type HboneFailure = 'CONNECT' | 'TLS_FAILURE' | 'IDENTITY_ERROR' | 'H2_HANDSHAKE_FAILURE' | 'DENY' | 'TIMEOUT';

export class HboneError extends Error {
  constructor(
    message: string,
    readonly responseFlags: HboneFailure,
    /** HTTP status of the CONNECT response, when the peer answered. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HboneError';
  }
}
