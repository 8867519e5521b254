import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { acceptedCoding, compressJson } from './content-coding.ts';

describe('acceptedCoding', () => {
  it('prefers br, then gzip (or *), and skips codings refused with q=0', () => {
    expect(acceptedCoding('gzip, deflate, br, zstd')).toBe('br');
    expect(acceptedCoding('gzip')).toBe('gzip');
    expect(acceptedCoding('br;q=0, gzip')).toBe('gzip');
    expect(acceptedCoding('*')).toBe('gzip');
    expect(acceptedCoding('identity')).toBeNull();
    expect(acceptedCoding('gzip;q=0')).toBeNull();
    expect(acceptedCoding(undefined)).toBeNull();
  });
});

describe('compressJson', () => {
  const rows = Array.from({ length: 2000 }, (_, i) => ({ id: `rack-${i}`, online: i % 3 === 0, counters: { frames: i, readings: i * 4 } }));
  const app = new Hono();
  app.use('/big', compressJson());
  app.use('/small', compressJson());
  app.use('/text', compressJson());
  app.get('/big', (c) => c.json(rows));
  app.get('/small', (c) => c.json({ ok: true }));
  app.get('/text', (c) => c.text('x'.repeat(5000)));

  it('sends a large JSON answer whole, brotli or gzip as accepted, with its length', async () => {
    const plain = JSON.stringify(rows);
    for (const [accept, coding, decode] of [['gzip, br', 'br', brotliDecompressSync], ['gzip', 'gzip', gunzipSync]] as const) {
      const res = await app.request('/big', { headers: { 'accept-encoding': accept } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-encoding')).toBe(coding);
      expect(res.headers.get('vary')).toContain('accept-encoding');
      const body = Buffer.from(await res.arrayBuffer());
      expect(Number(res.headers.get('content-length'))).toBe(body.length);
      expect(body.length).toBeLessThan(plain.length / 4);
      expect(decode(body).toString()).toBe(plain);
    }
  });

  it('leaves small answers, other content and clients that accept no coding alone', async () => {
    const identity = await app.request('/big', { headers: { 'accept-encoding': 'identity' } });
    expect(identity.headers.get('content-encoding')).toBeNull();
    expect(await identity.json()).toEqual(rows);
    const small = await app.request('/small', { headers: { 'accept-encoding': 'br' } });
    expect(small.headers.get('content-encoding')).toBeNull();
    expect(await small.json()).toEqual({ ok: true });
    const text = await app.request('/text', { headers: { 'accept-encoding': 'br' } });
    expect(text.headers.get('content-encoding')).toBeNull();
    expect(await text.text()).toBe('x'.repeat(5000));
  });
});
