// The HTTP API: device registry, history, health and metrics. Tested in-process with app.request().
import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { compress } from 'hono/compress';
import type { Logger } from 'pino';
import type { AuthResult, OperatorAuth } from '../auth/operator-auth.ts';
import { generateToken, hashToken } from '../auth/tokens.ts';
import type { Ingest } from '../ingest/ingest.ts';
import { emptyCounters, type DeviceStatus, type Presence } from '../presence/presence.ts';
import type { Metrics } from '../metrics.ts';
import { DEVICE_ID_PATTERN } from '../protocol/index.ts';
import { DeviceExistsError, DeviceLimitError, type DeviceRecord, type DeviceRegistry } from '../registry/registry.ts';
import type { StoreHealth } from '../store/open-store.ts';
import { isQueryTooLarge, type ReadingPoint, type ReadingStore } from '../store/store.ts';
import type { CommandLog } from '../commands/command-log.ts';
import type { CommandService } from '../commands/command-service.ts';
import { clientAddress } from './client-address.ts';
import { compressJson } from './content-coding.ts';
import { mountCommandRoutes } from './command-routes.ts';
import { parseHistoryParams, queryTooLarge } from './history-query.ts';
import { HttpError, isConnectionFailure } from './http-error.ts';
import type { DeviceView, HistoryResponse } from './wire.ts';

export interface Health extends StoreHealth {
  /** readings the store refused for good (FP_ERR_STORE_REJECTED) since start; recent ones make the hub degraded */
  rejected?: { readings: number; lastAt: string; lastError: string };
  /** cluster mode: this hub and whether the shared parts answer */
  cluster?: { hubId: string; postgres: boolean; nats: boolean };
}

/** How long after the store last refused readings /healthz says `degraded`. */
const STORE_REJECTIONS_DEGRADE_MS = 5 * 60_000;

export interface AppOptions {
  registry: DeviceRegistry;
  ingest: Ingest;
  presence: Presence;
  store: ReadingStore;
  metrics: Metrics;
  log: Logger;
  auth: OperatorAuth;
  maxQueryPoints: number;
  /** bound on each history query (default: the store's own, 10 s) */
  queryTimeoutMs?: number;
  maxDevices: number;
  /** the store's health; the app adds what ingest saw the store refuse */
  health(): Promise<Health>;
  commands?: { service: CommandService; commandLog: CommandLog };
  /** recent console lines of a serial device */
  consoleOf?(deviceId: string): { at: number; text: string }[] | undefined;
  /** a device was added, renamed or deleted here (alert rules match device names) */
  onDevicesChanged?(): void;
  /** extra routes mounted by other components (live, commands, dashboard) */
  extend?: (app: Hono) => void;
}

export function createApp(options: AppOptions): Hono {
  const { registry, ingest, presence, store, metrics, log, auth } = options;
  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof HttpError) {
      if (err.code === 'HUB_ERR_UNAUTHORIZED') metrics.authFailures.inc({ endpoint: 'api' });
      if (err.code === 'HUB_ERR_TOO_MANY_ATTEMPTS' || err.code === 'HUB_ERR_TOO_LARGE') metrics.rejected.inc({ code: err.code });
      // The rest of a refused body is not read: end the connection rather than leave it stalled.
      if (err.code === 'HUB_ERR_TOO_LARGE') c.header('connection', 'close');
      return c.json(err.toJSON(), err.status);
    }
    if (isConnectionFailure(err)) {
      log.warn({ err, path: c.req.path }, 'request failed: shared state unreachable');
      return c.json(new HttpError('HUB_ERR_UNAVAILABLE', 'shared state (PostgreSQL) did not answer; retry').toJSON(), 503);
    }
    log.error({ err, path: c.req.path }, 'request failed');
    return c.json(new HttpError('HUB_ERR_INTERNAL', 'internal error').toJSON(), 500);
  });
  app.notFound((c) => c.json(new HttpError('HUB_ERR_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`).toJSON(), 404));

  // The answers that can be large — the registry of a fleet (megabytes of repetitive JSON) and
  // history — are compressed for clients that ask: JSON whole (brotli or gzip, on zlib's threads),
  // CSV gzipped as it streams (an export is produced as the client reads). Small answers are not
  // worth it; the dashboard's assets come compressed already.
  app.use('/api/devices', compressJson());
  app.use('/api/devices/:id/readings', compress({ encoding: 'gzip', contentTypeFilter: /^text\/csv/ }));
  app.use('/api/devices/:id/readings', compressJson());

  // Bodies are counted as they arrive and refused past their route's limit, before anything is
  // buffered and before the token is checked: no request can grow the hub's memory.
  app.use('*', async (c, next) => {
    const maxSize = bodyLimitFor(c.req.method, c.req.path);
    return bodyLimit({ maxSize, onError: () => { throw new HttpError('HUB_ERR_TOO_LARGE', `request body over ${maxSize} bytes`); } })(c, next);
  });

  app.use('/api/*', async (c, next) => {
    const headers = { authorization: c.req.header('authorization'), cookie: c.req.header('cookie') };
    refuseUnless(await auth.verify(headers, clientAddress(c)));
    // Cookie-authenticated writes must come from our own pages (the cookie is also SameSite=Strict).
    if (!headers.authorization && c.req.method !== 'GET' && !sameOrigin(c.req.header('origin'), c.req.header('host'))) {
      throw new HttpError('HUB_ERR_FORBIDDEN', 'cross-origin request');
    }
    await next();
  });

  // The dashboard's login: trades the operator token for a session cookie.
  app.post('/login', async (c) => {
    const body = await c.req.json().catch(() => null);
    const token = typeof body?.token === 'string' ? body.token : '';
    const result = await auth.login(token, clientAddress(c));
    refuseUnless(result);
    if (result.ok) c.header('set-cookie', result.cookie);
    return c.body(null, 204);
  });
  app.post('/logout', async (c) => {
    c.header('set-cookie', await auth.logout(c.req.header('cookie')));
    return c.body(null, 204);
  });

  /** A device as the API shows it: the registry's record and what presence knows since start. */
  function view(record: DeviceRecord, status: DeviceStatus | undefined): DeviceView {
    const lastSeen = status?.lastSeen ?? record.lastSeen;
    return {
      id: record.id,
      name: record.name,
      transport: record.transport,
      createdAt: new Date(record.createdAt).toISOString(),
      online: status?.online ?? false,
      lastSeen: lastSeen ? new Date(lastSeen).toISOString() : null,
      firmware: status?.firmware ?? record.firmware,
      channels: status?.channels ?? record.channels,
      counters: status?.counters ?? emptyCounters(),
    };
  }

  async function mustGet(id: string): Promise<DeviceRecord> {
    const record = await registry.get(id);
    if (!record) throw new HttpError('HUB_ERR_NOT_FOUND', `no device ${JSON.stringify(id)}`);
    return record;
  }

  app.get('/api/devices', async (c) => {
    const [records, statuses] = await Promise.all([registry.list(), presence.list()]);
    return c.json(records.map((record) => view(record, statuses.get(record.id))));
  });

  app.post('/api/devices', async (c) => {
    const body = await c.req.json().catch(() => undefined);
    if (body === undefined || typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError('HUB_ERR_BAD_REQUEST', 'body: a JSON object {id?, name?}');
    }
    // Without an id the hub picks one, so a device can be provisioned by name alone.
    const id = body.id === undefined ? `dev-${randomBytes(4).toString('hex')}` : body.id;
    if (typeof id !== 'string' || !DEVICE_ID_PATTERN.test(id)) {
      throw new HttpError('HUB_ERR_BAD_REQUEST', 'id: 1-64 characters of A-Z a-z 0-9 . _ - :');
    }
    const name = checkName(body.name === undefined ? id : body.name);
    const token = generateToken();
    // The registry decides a taken id and the device limit in the insert itself: two hubs (or two
    // requests) provisioning at once cannot both get one id, nor pass the limit together.
    const record = await registry.create({ id, name, tokenHash: hashToken(token), transport: 'ws' }, { maxDevices: options.maxDevices }).catch((err: unknown) => {
      if (err instanceof DeviceExistsError) throw new HttpError('HUB_ERR_CONFLICT', `device ${id} exists`);
      if (err instanceof DeviceLimitError) throw new HttpError('HUB_ERR_LIMIT', `at most ${options.maxDevices} devices (HUB_MAX_DEVICES)`);
      throw err;
    });
    log.info({ deviceId: id }, 'device provisioned');
    options.onDevicesChanged?.();
    // The token is shown once; only its hash is kept.
    return c.json({ ...view(record, await presence.get(record.id)), token }, 201);
  });

  app.get('/api/devices/:id', async (c) => {
    const record = await mustGet(c.req.param('id'));
    return c.json(view(record, await presence.get(record.id)));
  });

  app.patch('/api/devices/:id', async (c) => {
    const id = c.req.param('id');
    const body = await c.req.json().catch(() => undefined);
    if (typeof body !== 'object' || body === null || Array.isArray(body) || body.name === undefined) {
      throw new HttpError('HUB_ERR_BAD_REQUEST', 'body: a JSON object {name}');
    }
    const name = checkName(body.name);
    if (!(await registry.rename(id, name))) throw new HttpError('HUB_ERR_NOT_FOUND', `no device ${JSON.stringify(id)}`);
    log.info({ deviceId: id }, 'device renamed');
    options.onDevicesChanged?.();
    return c.json(view(await mustGet(id), await presence.get(id)));
  });

  app.delete('/api/devices/:id', async (c) => {
    const id = c.req.param('id');
    await mustGet(id);
    await registry.delete(id);
    await ingest.forget(id);
    // its open commands fail now: none may reach a device provisioned later under this id
    const failedCommands = (await options.commands?.service.deviceDeleted(id)) ?? 0;
    log.info({ deviceId: id, failedCommands }, 'device deleted');
    options.onDevicesChanged?.();
    return c.body(null, 204);
  });

  /** Runs a history query, turning the store's own refusals into their HTTP errors. */
  async function askStore<T>(deviceId: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      // the store's QueryTimeoutError: the query ran past its bound, the store itself is fine
      if ((err as { code?: unknown } | null)?.code === 'STORE_QUERY_TIMEOUT') {
        log.warn({ deviceId, err }, 'history query timed out');
        throw new HttpError('HUB_ERR_QUERY_TIMEOUT', `the query took too long: narrow the range, pick a channel or widen \`every\``);
      }
      // the store's QueryTooLargeError: it read more stored points than its bound (HUB_QUERY_MAX_SCAN)
      if (isQueryTooLarge(err)) {
        log.warn({ deviceId, maxScan: err.maxScan }, 'history query read too many points');
        throw queryTooLarge(err.maxScan);
      }
      log.error({ err }, 'history query failed');
      throw new HttpError('HUB_ERR_STORE_UNAVAILABLE', 'the store did not answer');
    }
  }

  app.get('/api/devices/:id/readings', async (c) => {
    const id = c.req.param('id');
    await mustGet(id);
    const { query, format } = parseHistoryParams(id, new URL(c.req.url).searchParams, { now: Date.now(), maxPoints: options.maxQueryPoints });
    const bounded = options.queryTimeoutMs === undefined ? query : { ...query, timeoutMs: options.queryTimeoutMs };
    // The store returns at most `limit` points over all channels, raw or windows; an answer that
    // reached the limit may have been cut.
    const head = (count: number): Omit<HistoryResponse, 'points'> => ({
      deviceId: id,
      from: new Date(query.from).toISOString(),
      to: new Date(query.to).toISOString(),
      every: query.every ?? null,
      agg: query.agg ?? null,
      truncated: count >= query.limit,
    });
    // A store with query threads writes the points' JSON there: 50,000 points are 15-20 ms of
    // JSON.stringify that would otherwise hold up every device's ACK on this thread.
    if (format !== 'csv' && store.queryJson) {
      const { count, json } = await askStore(id, () => store.queryJson!(bounded));
      const open = JSON.stringify(head(count)).slice(0, -1);
      return c.body(Buffer.concat([Buffer.from(`${open},"points":`), json, Buffer.from('}')]), 200, { 'content-type': 'application/json' });
    }
    const points = await askStore(id, () => store.query(bounded));
    if (format === 'csv') return csv(c, id, points, points.length >= query.limit);
    return c.json<HistoryResponse>({ ...head(points.length), points });
  });

  app.get('/api/devices/:id/console', async (c) => {
    const id = c.req.param('id');
    await mustGet(id);
    return c.json((options.consoleOf?.(id) ?? []).map((l) => ({ at: new Date(l.at).toISOString(), text: l.text })));
  });

  app.get('/healthz', async (c) => {
    const health: Health = await options.health();
    const { readings, lastAt, lastError } = ingest.storeRejections;
    if (readings > 0) {
      if (health.status === 'ok' && Date.now() - lastAt < STORE_REJECTIONS_DEGRADE_MS) health.status = 'degraded';
      health.rejected = { readings, lastAt: new Date(lastAt).toISOString(), lastError };
    }
    return c.json(health, health.status === 'down' ? 503 : 200);
  });

  app.get('/metrics', async (c) => {
    refuseUnless(await auth.verifyMetrics({ authorization: c.req.header('authorization'), cookie: c.req.header('cookie') }, clientAddress(c)));
    for (const refresh of metrics.beforeScrape) refresh();
    return c.text(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType });
  });

  if (options.commands) {
    mountCommandRoutes(app, { commands: options.commands.service, commandLog: options.commands.commandLog, deviceExists: async (id) => !!(await registry.get(id)) });
  }
  options.extend?.(app);
  return app;
}

/** Largest body each route takes; command args are at most 4096 bytes of JSON. */
export function bodyLimitFor(method: string, path: string): number {
  if (method === 'POST' && /^\/api\/devices\/[^/]+\/commands$/.test(path)) return 8 * 1024;
  // a rule may list up to 1,000 device ids
  if ((method === 'POST' || method === 'PUT') && /^\/api\/rules(\/[^/]+)?$/.test(path)) return 256 * 1024;
  return 4 * 1024;
}

/** A device's display name, as POST and PATCH /api/devices take it. */
function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length > 200) throw new HttpError('HUB_ERR_BAD_REQUEST', 'name: a string up to 200 characters');
  return name;
}

function refuseUnless(result: AuthResult): void {
  if (result.ok) return;
  if (result.code === 'HUB_ERR_TOO_MANY_ATTEMPTS') throw new HttpError(result.code, 'too many failed attempts from this address; back off');
  throw new HttpError(result.code, 'missing or wrong operator token');
}

function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (!origin) return true; // not a browser cross-site request
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * A text cell a spreadsheet could run as a formula (it starts with = + - @, tab or CR) gets a
 * leading single quote, as OWASP advises against CSV injection. Only text cells (channel names):
 * values are numbers written by the hub, and a negative number keeps its minus sign.
 */
function csvText(text: string): string {
  return csvField(/^[=+\-@\t\r]/.test(text) ? `'${text}` : text);
}

function csv(c: Context, deviceId: string, points: ReadingPoint[], truncated: boolean): Response {
  const encoder = new TextEncoder();
  let i = 0;
  // Rows are produced as the client reads, so a large export is not built in memory twice.
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode('time,channel,value\n'));
    },
    pull(controller) {
      if (i >= points.length) return controller.close();
      let chunk = '';
      for (const end = Math.min(points.length, i + 1000); i < end; i++) {
        const p = points[i];
        chunk += `${new Date(p.time).toISOString()},${csvText(p.channel)},${p.value}\n`;
      }
      controller.enqueue(encoder.encode(chunk));
    },
  });
  return c.body(body, 200, {
    'content-type': 'text/csv; charset=utf-8',
    'content-disposition': `attachment; filename="${deviceId.replace(/[^A-Za-z0-9._-]/g, '_')}-readings.csv"`,
    ...(truncated ? { 'x-truncated': 'true' } : {}),
  });
}
