import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** The peer's address, for per-address limits; in-process requests (tests' app.request) have none. */
export function clientAddress(c: Context): string {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.remoteAddress ?? 'unknown';
}
