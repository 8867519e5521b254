// Serves the browser dashboard from the hub's own origin. The client is bundled in memory by
// esbuild on first request and cached, so `npm start` on a fresh clone needs no build step and
// nothing built is ever committed.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Hono } from 'hono';
import type { Logger } from 'pino';
import type { OperatorAuth } from '../auth/operator-auth.ts';
import { clientAddress } from './client-address.ts';

export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export interface DashboardOptions {
  /** holds index.html, style.css, favicon.svg and src/main.ts; defaults to the repository's dashboard/ */
  root?: string;
  /**
   * Enables GET /session, which tells the page whether its cookie is still good. Without it the
   * page has to probe an /api route, and every such 401 shows up as an error in the browser console.
   */
  auth?: OperatorAuth;
  log?: Logger;
}

interface Asset {
  body: Uint8Array;
  etag: string;
}

const DEFAULT_ROOT = fileURLToPath(new URL('../../../dashboard/', import.meta.url));

// Shared by every hub in the process (tests start many), keyed by root.
const bundles = new Map<string, Promise<Asset>>();

function asset(body: Uint8Array): Asset {
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

async function buildBundle(root: string): Promise<Asset> {
  // Loaded only when a browser asks: the hub itself never needs the bundler.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [join(root, 'src/main.ts')],
    outfile: 'app.js',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  return asset(result.outputFiles[0].contents);
}

/** The client bundle, built once per root; a failed build is retried on the next request. */
export function dashboardBundle(root = DEFAULT_ROOT): Promise<Asset> {
  let pending = bundles.get(root);
  if (!pending) {
    pending = buildBundle(root);
    bundles.set(root, pending);
    pending.catch(() => bundles.delete(root));
  }
  return pending;
}

export function mountDashboard(app: Hono, options: DashboardOptions = {}): void {
  const root = options.root ?? DEFAULT_ROOT;
  const files = new Map<string, Promise<Asset>>();
  // Read once; edits to the page during development need a hub restart, like the bundle.
  const file = (path: string) => {
    let pending = files.get(path);
    if (!pending) {
      pending = readFile(path).then(asset);
      files.set(path, pending);
      pending.catch(() => files.delete(path));
    }
    return pending;
  };
  const uplotCss = () => file(createRequire(import.meta.url).resolve('uplot/dist/uPlot.min.css'));

  async function send(c: Context, load: () => Promise<Asset>, type: string, cacheControl = 'no-cache'): Promise<Response> {
    let found: Asset;
    try {
      found = await load();
    } catch (err) {
      options.log?.error({ err }, 'dashboard asset unavailable');
      return c.json({ error: { code: 'HUB_ERR_INTERNAL', message: 'dashboard asset unavailable; see the hub log' } }, 500, SECURITY_HEADERS);
    }
    const headers = { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': cacheControl, etag: found.etag };
    if (c.req.header('if-none-match') === found.etag) return c.body(null, 304, headers);
    return c.body(found.body as Uint8Array<ArrayBuffer>, 200, headers);
  }

  app.get('/', (c) => send(c, () => file(join(root, 'index.html')), 'text/html; charset=utf-8'));
  app.get('/assets/app.js', (c) => send(c, () => dashboardBundle(root), 'text/javascript; charset=utf-8'));
  app.get('/assets/style.css', (c) => send(c, () => file(join(root, 'style.css')), 'text/css; charset=utf-8'));
  app.get('/assets/uplot.css', (c) => send(c, uplotCss, 'text/css; charset=utf-8'));
  app.get('/assets/favicon.svg', (c) => send(c, () => file(join(root, 'favicon.svg')), 'image/svg+xml', 'max-age=86400'));
  app.all('/assets/*', (c) => c.json({ error: { code: 'HUB_ERR_NOT_FOUND', message: 'no such dashboard asset' } }, 404, SECURITY_HEADERS));

  const auth = options.auth;
  if (auth) {
    app.get('/session', async (c) => {
      const result = await auth.verify({ authorization: c.req.header('authorization'), cookie: c.req.header('cookie') }, clientAddress(c));
      if (!result.ok && result.code === 'HUB_ERR_TOO_MANY_ATTEMPTS') {
        return c.json({ error: { code: result.code, message: 'too many failed attempts from this address; back off' } }, 429);
      }
      return c.json({ operator: result.ok }, 200, { 'cache-control': 'no-store' });
    });
  }
}
