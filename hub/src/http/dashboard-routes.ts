// Serves the browser dashboard from the hub's own origin. The client is bundled in memory by
// esbuild on first request and cached, so `npm start` on a fresh clone needs no build step and
// nothing built is ever committed. The page names its script and stylesheets by content hash
// (/assets/app.<hash>.js), so browsers keep them for good and ask again only for the small page;
// they are compressed once (brotli and gzip) and sent as the browser accepts.
import { createHash } from 'node:crypto';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import { acceptedCoding } from './content-coding.ts';
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
  /** of the content, for hashed URLs */
  hash: string;
  /** compressed copies of text assets */
  br?: Uint8Array;
  gzip?: Uint8Array;
}

/** Hashed asset URLs never change content: a year, and no revalidation. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

const DEFAULT_ROOT = fileURLToPath(new URL('../../../dashboard/', import.meta.url));

// Shared by every hub in the process (tests start many), keyed by root.
const bundles = new Map<string, Promise<Asset>>();

function asset(body: Uint8Array, compressible = true): Asset {
  const digest = createHash('sha256').update(body).digest('base64url');
  const found: Asset = { body, etag: `"${digest.slice(0, 22)}"`, hash: digest.slice(0, 16).replace(/[-_]/g, '0') };
  if (compressible && body.length > 512) {
    found.br = brotliCompressSync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length } });
    found.gzip = gzipSync(body, { level: 9 });
  }
  return found;
}

/** The best encoding the request accepts that the asset has: br, then gzip, else none. */
function pickEncoding(accept: string | undefined, found: Asset): 'br' | 'gzip' | null {
  return found.br ? acceptedCoding(accept) : null;
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
      pending = readFile(path).then((body) => asset(body, !path.endsWith('.svg')));
      files.set(path, pending);
      pending.catch(() => files.delete(path));
    }
    return pending;
  };
  const uplotCss = () => file(createRequire(import.meta.url).resolve('uplot/dist/uPlot.min.css'));

  /** The assets the page names by hash: name → how to load it and its type. */
  const hashed: Record<string, { load: () => Promise<Asset>; ext: 'js' | 'css'; type: string }> = {
    app: { load: () => dashboardBundle(root), ext: 'js', type: 'text/javascript; charset=utf-8' },
    style: { load: () => file(join(root, 'style.css')), ext: 'css', type: 'text/css; charset=utf-8' },
    uplot: { load: uplotCss, ext: 'css', type: 'text/css; charset=utf-8' },
  };

  // index.html with /assets/app.js (and the stylesheets) replaced by their hashed URLs
  let page: Promise<Asset> | null = null;
  const indexPage = () => {
    page ??= (async () => {
      let html = new TextDecoder().decode((await file(join(root, 'index.html'))).body);
      for (const [name, { load, ext }] of Object.entries(hashed)) {
        const { hash } = await load();
        html = html.replaceAll(`"/assets/${name}.${ext}"`, `"/assets/${name}.${hash}.${ext}"`);
      }
      return asset(new TextEncoder().encode(html));
    })();
    page.catch(() => {
      page = null;
    });
    return page;
  };

  async function send(c: Context, load: () => Promise<Asset>, type: string, cacheControl = 'no-cache', wantHash?: string): Promise<Response> {
    let found: Asset;
    try {
      found = await load();
    } catch (err) {
      options.log?.error({ err }, 'dashboard asset unavailable');
      return c.json({ error: { code: 'HUB_ERR_INTERNAL', message: 'dashboard asset unavailable; see the hub log' } }, 500, SECURITY_HEADERS);
    }
    // A hash that is not the current one (a page from before a restart with other sources, or
    // from another hub of a cluster): the current content, but not to be kept under that name.
    if (wantHash !== undefined) cacheControl = wantHash === found.hash ? IMMUTABLE : 'no-cache';
    const encoding = pickEncoding(c.req.header('accept-encoding'), found);
    const etag = encoding ? `${found.etag.slice(0, -1)}-${encoding}"` : found.etag;
    const headers: Record<string, string> = { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': cacheControl, etag };
    if (found.br) headers.vary = 'accept-encoding';
    if (encoding) headers['content-encoding'] = encoding;
    const ifNoneMatch = c.req.header('if-none-match');
    if (ifNoneMatch && ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)) return c.body(null, 304, headers);
    const body = encoding === 'br' ? found.br! : encoding === 'gzip' ? found.gzip! : found.body;
    return c.body(body as Uint8Array<ArrayBuffer>, 200, headers);
  }

  app.get('/', (c) => send(c, indexPage, 'text/html; charset=utf-8'));
  // by their plain names too (no-cache), for anything that links them so
  for (const [name, { load, ext, type }] of Object.entries(hashed)) app.get(`/assets/${name}.${ext}`, (c) => send(c, load, type));
  app.get('/assets/favicon.svg', (c) => send(c, () => file(join(root, 'favicon.svg')), 'image/svg+xml', 'max-age=86400'));
  app.get('/assets/:file', (c) => {
    const match = /^([a-z]+)\.([A-Za-z0-9]{16})\.(js|css)$/.exec(c.req.param('file'));
    const entry = match && Object.hasOwn(hashed, match[1]) ? hashed[match[1]] : undefined;
    if (!entry || entry.ext !== match![3]) return c.json({ error: { code: 'HUB_ERR_NOT_FOUND', message: 'no such dashboard asset' } }, 404, SECURITY_HEADERS);
    return send(c, entry.load, entry.type, 'no-cache', match![2]);
  });
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
