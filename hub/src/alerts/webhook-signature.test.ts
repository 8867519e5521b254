import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseWebhookInput, signBody, verifySignature } from './webhook-signature.ts';

// Vectors computed apart from this code:
// - GitHub's own example in "Validating webhook deliveries" (docs.github.com): secret
//   "It's a Secret to Everybody", payload "Hello, World!";
// - printf '{"a":"é ☃"}' | openssl dgst -sha256 -hmac 0123456789abcdef   (UTF-8 bytes, not UTF-16 units)
const VECTORS = [
  {
    secret: "It's a Secret to Everybody", body: 'Hello, World!',
    header: 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
  },
  {
    secret: '0123456789abcdef', body: '{"a":"é ☃"}',
    header: 'sha256=29d6e033fbbc3fc7c5f6e88b6fdf066de9b88cc94acb84a9feefece438875593',
  },
];

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('signBody', () => {
  it.each(VECTORS)('signs $body as the independent vector says', ({ secret, body, header }) => {
    expect(signBody(secret, body)).toBe(header);
  });

  it.skipIf(!hasOpenssl())('agrees with openssl on a webhook body', () => {
    const secret = 'a secret of some length';
    const body = JSON.stringify({ idempotencyKey: 'k-1', event: 'firing', alert: { deviceId: 'boiler-ü', value: 81.5 } });
    const out = execFileSync('openssl', ['dgst', '-sha256', '-hmac', secret], { input: Buffer.from(body, 'utf8') }).toString();
    const hex = out.trim().split(/\s+/).at(-1);
    expect(signBody(secret, body)).toBe(`sha256=${hex}`);
  });
});

describe('verifySignature', () => {
  it.each(VECTORS)('accepts the vector for $body', ({ secret, body, header }) => {
    expect(verifySignature(secret, body, header)).toBe(true);
  });

  it('refuses another body, another secret, a changed digit and malformed headers', () => {
    const { secret, body, header } = VECTORS[0];
    expect(verifySignature(secret, body + ' ', header)).toBe(false);
    expect(verifySignature(secret + 'x', body, header)).toBe(false);
    expect(verifySignature(secret, body, header.slice(0, -1) + (header.endsWith('7') ? '8' : '7'))).toBe(false);
    expect(verifySignature(secret, body, header.toUpperCase())).toBe(false);
    expect(verifySignature(secret, body, header.replace('sha256=', 'sha1='))).toBe(false);
    expect(verifySignature(secret, body, header.slice(0, -2))).toBe(false);
    expect(verifySignature(secret, body, header + '00')).toBe(false);
    expect(verifySignature(secret, body, '')).toBe(false);
    expect(verifySignature(secret, body, undefined)).toBe(false);
    expect(verifySignature(secret, body, null)).toBe(false);
  });
});

describe('parseWebhookInput', () => {
  const secret = 's'.repeat(16);

  it('accepts absolute http and https URLs with a secret of 16 to 256 characters', () => {
    expect(parseWebhookInput({ url: 'https://hooks.example.com/alerts?x=1', secret })).toEqual({
      ok: true, url: 'https://hooks.example.com/alerts?x=1', secret,
    });
    expect(parseWebhookInput({ url: 'http://127.0.0.1:8080/', secret: 's'.repeat(256) })).toMatchObject({ ok: true });
    const long = 'https://example.com/' + 'a'.repeat(2048 - 'https://example.com/'.length);
    expect(long).toHaveLength(2048);
    expect(parseWebhookInput({ url: long, secret })).toMatchObject({ ok: true });
  });

  it.each([
    [null, 'body'],
    ['https://example.com', 'body'],
    [[], 'body'],
    [{ secret }, 'url'],
    [{ url: 42, secret }, 'url'],
    [{ url: '', secret }, 'url'],
    [{ url: '/relative/path', secret }, 'url'],
    [{ url: 'example.com/hook', secret }, 'url'],
    [{ url: 'ftp://example.com/hook', secret }, 'url'],
    [{ url: 'javascript:alert(1)', secret }, 'url'],
    [{ url: 'file:///etc/passwd', secret }, 'url'],
    [{ url: 'https://user:pass@example.com/hook', secret }, 'url'],
    [{ url: 'https://user@example.com/hook', secret }, 'url'],
    [{ url: 'https://example.com/' + 'a'.repeat(2049 - 'https://example.com/'.length), secret }, 'url'],
    [{ url: 'https://example.com/' }, 'secret'],
    [{ url: 'https://example.com/', secret: 1234567890123456 }, 'secret'],
    [{ url: 'https://example.com/', secret: 's'.repeat(15) }, 'secret'],
    [{ url: 'https://example.com/', secret: 's'.repeat(257) }, 'secret'],
  ])('refuses %j, naming %s', (body, field) => {
    const result = parseWebhookInput(body);
    expect(result).toMatchObject({ ok: false, field });
    expect(result.ok === false && result.message.length).toBeGreaterThan(0);
  });
});
