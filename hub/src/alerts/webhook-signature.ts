// Webhook signatures in GitHub's X-Hub-Signature-256 format, and the check of what an operator
// sends to register a webhook. Pure: no I/O, no clock.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Hub-Signature-256';
const PREFIX = 'sha256=';

export const WEBHOOK_URL_MAX_LENGTH = 2048;
export const WEBHOOK_SECRET_MIN_LENGTH = 16;
export const WEBHOOK_SECRET_MAX_LENGTH = 256;

/** `sha256=` and the lowercase hex HMAC-SHA256 of the body's UTF-8 bytes, keyed with the secret. */
export function signBody(secret: string, body: string): string {
  return PREFIX + createHmac('sha256', secret).update(body, 'utf8').digest('hex');
}

/** What a receiver does with the header: true only for the exact signature of these bytes. */
export function verifySignature(secret: string, body: string, header: string | null | undefined): boolean {
  if (typeof header !== 'string' || !header.startsWith(PREFIX)) return false;
  const hex = header.slice(PREFIX.length);
  // Buffer.from(…, 'hex') stops at the first bad character; insisting on 64 lowercase hex digits
  // means a header that decodes to the right bytes but is not what signBody writes is refused
  if (!/^[0-9a-f]{64}$/.test(hex)) return false;
  const expected = createHmac('sha256', secret).update(body, 'utf8').digest();
  return timingSafeEqual(Buffer.from(hex, 'hex'), expected);
}

export type WebhookInputResult =
  | { ok: true; url: string; secret: string }
  | { ok: false; field: 'body' | 'url' | 'secret'; message: string };

/** Checks the body of a webhook registration: `{ url, secret }`. */
export function parseWebhookInput(body: unknown): WebhookInputResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, field: 'body', message: 'expected an object with url and secret' };
  }
  const { url, secret } = body as Record<string, unknown>;
  if (typeof url !== 'string' || url === '') return { ok: false, field: 'url', message: 'url is required' };
  if (url.length > WEBHOOK_URL_MAX_LENGTH) {
    return { ok: false, field: 'url', message: `url is longer than ${WEBHOOK_URL_MAX_LENGTH} characters` };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, field: 'url', message: 'url must be an absolute http: or https: URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { ok: false, field: 'url', message: 'url must be an absolute http: or https: URL' };
  }
  // credentials in the URL would be shown wherever the webhook is listed; the secret signs instead
  if (parsed.username !== '' || parsed.password !== '') {
    return { ok: false, field: 'url', message: 'url must not contain a user name or password' };
  }
  if (typeof secret !== 'string') return { ok: false, field: 'secret', message: 'secret is required' };
  if (secret.length < WEBHOOK_SECRET_MIN_LENGTH || secret.length > WEBHOOK_SECRET_MAX_LENGTH) {
    return {
      ok: false, field: 'secret',
      message: `secret must be ${WEBHOOK_SECRET_MIN_LENGTH} to ${WEBHOOK_SECRET_MAX_LENGTH} characters long`,
    };
  }
  return { ok: true, url, secret };
}
