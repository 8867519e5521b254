// One error type for the HTTP API; every error response has the shape {error: {code, message}}.
export const HttpErrorCode = {
  HUB_ERR_BAD_REQUEST: 400,
  HUB_ERR_UNAUTHORIZED: 401,
  HUB_ERR_FORBIDDEN: 403,
  HUB_ERR_NOT_FOUND: 404,
  HUB_ERR_CONFLICT: 409,
  HUB_ERR_TOO_LARGE: 413,
  HUB_ERR_TOO_MANY_POINTS: 400,
  HUB_ERR_QUEUE_FULL: 429,
  HUB_ERR_TOO_MANY_ATTEMPTS: 429,
  HUB_ERR_LIMIT: 403,
  HUB_ERR_STORE_UNAVAILABLE: 503,
  HUB_ERR_QUERY_TIMEOUT: 504,
  HUB_ERR_INTERNAL: 500,
} as const;
export type HttpErrorName = keyof typeof HttpErrorCode;

export class HttpError extends Error {
  constructor(readonly code: HttpErrorName, message: string) {
    super(message);
    this.name = 'HttpError';
  }
  get status(): (typeof HttpErrorCode)[HttpErrorName] {
    return HttpErrorCode[this.code];
  }
  toJSON() {
    return { error: { code: this.code, message: this.message } };
  }
}
