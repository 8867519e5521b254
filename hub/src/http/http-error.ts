// The hub's HTTP-level error codes in one table: REST answers, refused WebSocket upgrades and
// refusals that are only counted (hub_rejected_total{code}). Each code has one status, taken from
// here wherever it is answered, so a code and its status cannot disagree. Every error answer has
// the shape {error: {code, message}}; the codes are listed in the README.
export const HttpErrorCode = {
  HUB_ERR_BAD_REQUEST: 400,
  HUB_ERR_UNAUTHORIZED: 401,
  HUB_ERR_FORBIDDEN: 403,
  HUB_ERR_NOT_FOUND: 404,
  HUB_ERR_CONFLICT: 409,
  HUB_ERR_TOO_LARGE: 413,
  HUB_ERR_TOO_MANY_POINTS: 400,
  HUB_ERR_QUEUE_FULL: 429,
  /** an upgrade past HUB_MAX_CONNECTIONS_PER_IP; past HUB_MAX_HTTP_CONNECTIONS_PER_IP it is only counted (closed at accept) */
  HUB_ERR_TOO_MANY_CONNECTIONS: 429,
  HUB_ERR_TOO_MANY_ATTEMPTS: 429,
  HUB_ERR_LIMIT: 403,
  HUB_ERR_STORE_UNAVAILABLE: 503,
  /** cluster mode: PostgreSQL, which holds the registry, commands and alerts, did not answer */
  HUB_ERR_UNAVAILABLE: 503,
  HUB_ERR_QUERY_TIMEOUT: 504,
  /** a history query read more stored points than HUB_QUERY_MAX_SCAN (embedded store); the request is valid, the data too much */
  HUB_ERR_QUERY_TOO_LARGE: 422,
  HUB_ERR_INTERNAL: 500,
  /** only counted: an upgrade that did not become a WebSocket in time is closed without an answer */
  HUB_ERR_UPGRADE_TIMEOUT: null,
} as const;

/** Every code in the table, the counted-only ones included: what hub_rejected_total{code} may say for HTTP. */
export type HubErrorName = keyof typeof HttpErrorCode;
/** The codes an error answer can carry: those with a status. */
export type HttpErrorName = { [K in HubErrorName]: (typeof HttpErrorCode)[K] extends number ? K : never }[HubErrorName];
export type HttpErrorStatus = (typeof HttpErrorCode)[HttpErrorName];

export class HttpError extends Error {
  constructor(readonly code: HttpErrorName, message: string) {
    super(message);
    this.name = 'HttpError';
  }
  get status(): HttpErrorStatus {
    return HttpErrorCode[this.code];
  }
  toJSON() {
    return { error: { code: this.code, message: this.message } };
  }
}

/**
 * A connection failure of a shared dependency (PostgreSQL in cluster mode), by the error codes
 * Node and the postgres client give: a request that needed it gets 503, not 500, and may be retried.
 */
const CONNECTION_FAILURES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  // PostgreSQL shutting down or starting up
  '57P01', '57P02', '57P03',
]);

export function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONNECTION_FAILURES.has(code);
}
