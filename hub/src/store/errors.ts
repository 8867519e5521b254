// Callers must tell "the backend refused these readings" (retrying cannot help, so the spool must not
// keep them) apart from "the backend is down or slow" (every other error, worth spooling and retrying).

/** The readings are invalid, or the backend refused them for good. Do not retry them. */
export class WriteRejectedError extends Error {
  override readonly name = 'WriteRejectedError';
  readonly code = 'STORE_WRITE_REJECTED';
}

export function isWriteRejected(err: unknown): err is WriteRejectedError {
  return err instanceof WriteRejectedError;
}
