// The dashboard's static routes on a bare Hono app: page, bundle, styles, headers, session probe.
import { Hono } from 'hono';
import { afterAll, describe, expect, it } from 'vitest';
import { testOperatorAuth } from '../../test/support/operator-auth.ts';
import { DASHBOARD_CSP, mountDashboard } from './dashboard-routes.ts';

const operator = testOperatorAuth('operator');
afterAll(() => operator.close());

function dashboardApp() {
  const app = new Hono();
  mountDashboard(app, { auth: operator.auth });
  return app;
}

function expectSecurityHeaders(res: Response) {
  expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
}

describe('dashboard routes', () => {
  it('serves the page as HTML under the CSP, with no inline scripts or styles', async () => {
    const res = await dashboardApp().request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expectSecurityHeaders(res);
    expect(DASHBOARD_CSP).toContain("script-src 'self'");
    expect(DASHBOARD_CSP).not.toContain('unsafe-inline');
    const html = await res.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\bsrc="\/assets\/[^"]+"/);
      expect(body.trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/\sstyle\s*=/i);
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    // every asset the page names is one the hub serves
    for (const [, path] of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
      expect((await dashboardApp().request(path)).status, path).toBe(200);
    }
  });

  it('serves the client bundle as JavaScript, built once and cacheable by ETag', async () => {
    const app = dashboardApp();
    const res = await app.request('/assets/app.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expectSecurityHeaders(res);
    const js = await res.text();
    expect(js.length).toBeGreaterThan(10_000); // uPlot is in it
    expect(js).toContain('/ws/live');
    const etag = res.headers.get('etag')!;
    expect(etag).toBeTruthy();
    const again = await app.request('/assets/app.js', { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('names its script and stylesheets by content hash: the page is revalidated, the hashed assets kept for good', async () => {
    const app = dashboardApp();
    const page = await app.request('/');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    const js = /src="(\/assets\/app\.([A-Za-z0-9]{16})\.js)"/.exec(html);
    expect(js, html).toBeTruthy();
    expect(html).toMatch(/href="\/assets\/style\.[A-Za-z0-9]{16}\.css"/);
    expect(html).toMatch(/href="\/assets\/uplot\.[A-Za-z0-9]{16}\.css"/);
    expect(html).not.toContain('"/assets/app.js"');
    const hashedRes = await app.request(js![1]);
    expect(hashedRes.status).toBe(200);
    expect(hashedRes.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(hashedRes.headers.get('content-type')).toMatch(/^text\/javascript/);
    expectSecurityHeaders(hashedRes);
    expect(await hashedRes.text()).toBe(await (await app.request('/assets/app.js')).text());
    // a hash that is not the current one gets the current content, not to be kept
    const stale = await app.request('/assets/app.AAAAAAAAAAAAAAAA.js');
    expect(stale.status).toBe(200);
    expect(stale.headers.get('cache-control')).toBe('no-cache');
    for (const path of ['/assets/app.AAAAAAAAAAAAAAAA.css', '/assets/other.AAAAAAAAAAAAAAAA.js', '/assets/app.short.js', '/assets/constructor.AAAAAAAAAAAAAAAA.js']) {
      expect((await app.request(path)).status, path).toBe(404);
    }
  });

  it('sends the page, bundle and stylesheets compressed as the browser accepts (br, then gzip), under the same headers', async () => {
    const app = dashboardApp();
    const plain = new Uint8Array(await (await app.request('/assets/app.js')).arrayBuffer());
    const { brotliDecompressSync, gunzipSync } = await import('node:zlib');
    const br = await app.request('/assets/app.js', { headers: { 'accept-encoding': 'gzip, deflate, br, zstd' } });
    expect(br.headers.get('content-encoding')).toBe('br');
    expect(br.headers.get('vary')).toBe('accept-encoding');
    expectSecurityHeaders(br);
    const brBody = new Uint8Array(await br.arrayBuffer());
    expect(brBody.length).toBeLessThan(plain.length / 2);
    expect(new Uint8Array(brotliDecompressSync(brBody))).toEqual(plain);
    const gz = await app.request('/assets/app.js', { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    expect(new Uint8Array(gunzipSync(new Uint8Array(await gz.arrayBuffer())))).toEqual(plain);
    expect(br.headers.get('etag')).not.toBe(gz.headers.get('etag'));
    const again = await app.request('/assets/app.js', { headers: { 'accept-encoding': 'br', 'if-none-match': br.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect((await app.request('/assets/app.js', { headers: { 'accept-encoding': 'br;q=0, gzip' } })).headers.get('content-encoding')).toBe('gzip');
    expect((await app.request('/assets/app.js', { headers: { 'accept-encoding': 'identity' } })).headers.get('content-encoding')).toBeNull();
    for (const path of ['/', '/assets/style.css', '/assets/uplot.css']) {
      const res = await app.request(path, { headers: { 'accept-encoding': 'br' } });
      expect(res.headers.get('content-encoding'), path).toBe('br');
      expectSecurityHeaders(res);
    }
  });

  it('serves the stylesheets as CSS', async () => {
    const app = dashboardApp();
    for (const path of ['/assets/style.css', '/assets/uplot.css']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/css/);
      expectSecurityHeaders(res);
    }
    expect(await (await app.request('/assets/uplot.css')).text()).toContain('.uplot');
  });

  it('answers unknown assets with 404', async () => {
    const app = dashboardApp();
    for (const path of ['/assets/nope.js', '/assets/../package.json', '/assets/src/main.ts', '/assets/app.js/x']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
    }
  });

  it('tells the page whether its cookie is good, without a 401', async () => {
    const app = dashboardApp();
    const anonymous = await app.request('/session');
    expect(anonymous.status).toBe(200);
    expect(await anonymous.json()).toEqual({ operator: false });
    const wrong = await app.request('/session', { headers: { cookie: 'hub_session=nope' } });
    expect(await wrong.json()).toEqual({ operator: false });
    const login = await operator.auth.login('operator', 'unknown');
    if (!login.ok) throw new Error('login refused');
    const cookie = login.cookie.split(';')[0];
    const good = await app.request('/session', { headers: { cookie } });
    expect(await good.json()).toEqual({ operator: true });
    expect(good.headers.get('cache-control')).toBe('no-store');
    // another hub on the same host (cookies ignore ports) may have set one of the same name
    const beside = await app.request('/session', { headers: { cookie: `hub_session=%; ${cookie}` } });
    expect(await beside.json()).toEqual({ operator: true });
  });

  it('has no session probe without operator auth', async () => {
    const app = new Hono();
    mountDashboard(app);
    expect((await app.request('/session')).status).toBe(404);
    expect((await app.request('/')).status).toBe(200);
  });
});
