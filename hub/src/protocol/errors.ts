// [FP-9] Stable error codes. Numbers go on the wire; names go in logs, metrics and tests.
export const ErrorCode = {
  FP_ERR_TRUNCATED: 1,
  FP_ERR_BAD_VERSION: 2,
  FP_ERR_BAD_TYPE: 3,
  FP_ERR_BAD_LENGTH: 4,
  FP_ERR_TOO_LARGE: 5,
  FP_ERR_BAD_CHECKSUM: 6,
  FP_ERR_BAD_PAYLOAD: 7,
  FP_ERR_BAD_LINE: 8,
  FP_ERR_NO_HELLO: 21,
  FP_ERR_DEVICE_MISMATCH: 22,
  FP_ERR_UNKNOWN_CHANNEL: 23,
  FP_ERR_BAD_VALUE: 24,
  FP_ERR_BAD_TIME: 25,
  FP_ERR_RATE_LIMIT: 26,
  FP_ERR_REPLACED: 27,
  FP_ERR_UNKNOWN_DEVICE: 28,
  FP_ERR_STORE_UNAVAILABLE: 29,
  FP_ERR_SHUTDOWN: 30,
  FP_ERR_NOT_READING: 31,
  FP_ERR_TOO_MANY_CHANNELS: 32,
  FP_ERR_DEVICE_LIMIT: 33,
  FP_ERR_STORE_REJECTED: 34,
} as const;

export type ErrorName = keyof typeof ErrorCode;

const namesByCode = new Map<number, ErrorName>(
  Object.entries(ErrorCode).map(([name, code]) => [code, name as ErrorName]),
);

export function errorName(code: number): ErrorName | undefined {
  return namesByCode.get(code);
}

/** [FP-9] WebSocket close code for an error that ends a connection. */
export function closeCodeFor(name: ErrorName): number {
  return name === 'FP_ERR_SHUTDOWN' ? 1001 : 4000 + ErrorCode[name];
}

export class ProtocolError extends Error {
  readonly code: ErrorName;
  constructor(code: ErrorName, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
  get numericCode(): number {
    return ErrorCode[this.code];
  }
}
