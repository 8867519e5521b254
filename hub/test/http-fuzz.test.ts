// Tens of thousands of seeded random and mutated inputs against one live hub's front door: raw HTTP
// requests over TCP, WebSocket upgrade requests, and /ws/live messages. The hub never crashes,
// answers only documented statuses (never 500) with error bodies in the API's shape, closes bad
// live messages with 4000, keeps its memory and sockets, and a good device beside the noise loses
// nothing. Every input comes from the seed and its case number; a failure prints both and the
// exact bytes. HTTP_FUZZ_SEED=<n> runs another seed; HTTP_FUZZ_PROGRESS=1 prints progress, every
// finding as it happens and one input per answered status.
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { deriveSeed } from '../../device-sim/src/random.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { randomInt, seededRandom } from './support/random.ts';

const SEED = Number(process.env.HTTP_FUZZ_SEED ?? 20_261_130);
const HTTP_CASES = 16_000;
const UPGRADE_CASES = 5_000;
const LIVE_CASES = 3_000;
const HTTP_WORKERS = 6;
const UPGRADE_WORKERS = 3;
const LIVE_WORKERS = 2;
/** requests left half-sent on open connections for the whole run */
const STALLED = 16;
/** how long a complete request may wait for its answer, or an ended connection for its close (a busy machine, not a deadline) */
const ANSWER_MS = 20_000;

/** What the hub may answer (README, HTTP API; 504 is HUB_ERR_QUERY_TIMEOUT); anything else, 500 above all, is a finding. */
const DOCUMENTED_STATUS = new Set([101, 200, 201, 202, 204, 304, 400, 401, 403, 404, 408, 409, 413, 429, 431, 503, 504]);
/** /ws/live close codes: 4000 from the hub for a bad message, the rest when this test closes. */
const LIVE_CLOSE_OURS = new Set([1000, 1001, 1005, 1006]);

const GOOD_ID = 'steady-http';
const TARGET_ID = 'fuzz-target';
const SOCKET_ID = 'fuzz-socket';

type Rand = () => number;
const pick = <T>(rand: Rand, list: readonly T[]): T => list[randomInt(rand, 0, list.length - 1)];
const chance = (rand: Rand, p: number) => rand() < p;

/** Source addresses: fuzz traffic is spread over 127.10.0.0/14 so the per-address failure backoff stays a side show. */
const fuzzAddress = (rand: Rand) => `127.${randomInt(rand, 10, 13)}.${randomInt(rand, 0, 255)}.${randomInt(rand, 1, 254)}`;
const LIVE_ADDRESS = '127.0.0.3';
const GOOD_ADDRESS = '127.0.0.2';
const BURST_ADDRESS = '127.0.9.9';
const STALL_ADDRESS = '127.0.8.1';

interface Ctx {
  port: number;
  host: string;
  admin: string;
  /** `name=value` of a dashboard session opened by POST /login */
  session: string;
  /** token of a provisioned device that is never used for streaming */
  deviceToken: string;
  /** ETags of the dashboard's files by path, so If-None-Match can match */
  etags: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Input pieces

const JUNK_CHARS = [
  ...'abcXYZ019-._~:@!$&\'()*+,;=/?#[]%"<>\\^`{|} ',
  '\u0000', '\u0001', '\u007f', '\u00e9', '\u00ff', '\u0100', '\u2028', '\ufeff', '\ufffd', '\ud83d\udca5', '\ud800', '\t',
];
function junk(rand: Rand, max: number): string {
  let s = '';
  for (let n = randomInt(rand, 0, max); n > 0; n--) s += pick(rand, JUNK_CHARS);
  return s;
}
/** junk without bytes that end a request line or header (space, CR, LF) */
const lineSafe = (s: string) => s.replace(/[\s\u2028]/g, '_');
/** percent-encoded where it can be (a lone surrogate cannot) */
const encoded = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return lineSafe(s);
  }
};

const PERCENT = ['%', '%zz', '%E0%A4%A', '%00', '%2e%2e', '%2F', '%252e', '%C3%A9', '%ff', '%u0041', '%%', '%5B', '%0d%0a'];
const ID_CHOICES = [
  TARGET_ID, TARGET_ID, TARGET_ID, SOCKET_ID, 'nope', 'a', 'x'.repeat(64), 'x'.repeat(65), 'd\u00e9v', 'd%C3%A9v', '..', '.', 'a%2Fb',
  '*', '\ud83d\udca5', '%F0%9F%92%A5', 'dev-00000000', 'fuzz-gone', '__proto__', 'constructor', ...PERCENT,
];
function deviceId(rand: Rand): string {
  if (chance(rand, 0.1)) return lineSafe(junk(rand, 20));
  if (chance(rand, 0.02)) return 'i'.repeat(randomInt(rand, 100, 5000));
  return pick(rand, ID_CHOICES);
}

const TIMES = ['0', '-1', '1e3', '9'.repeat(30), 'now', '', '2026-13-45T99:99:99Z', '-8640000000000001', '8640000000000000', 'NaN', 'Infinity', ' 1', '1.5', '0x10', '+1', '2026-11-25', '2026-11-25T10:00:00+25:00', ...PERCENT];
const HISTORY_VALUES: Record<string, readonly string[]> = {
  from: TIMES,
  to: TIMES,
  every: ['1m', '1ms', '1s', '0s', '10x', '', '999999999999999999999d', '1.5s', '-1s', '1', 'ms', '1M', '1 m', '01m', '1e3ms', ...PERCENT],
  agg: ['mean', 'min', 'max', 'last', 'count', 'sum', '', '__proto__', 'toString', 'constructor', 'MEAN', ...PERCENT],
  limit: ['1', '0', '-1', '100000', '100001', '1e5', '1.5', 'abc', '9'.repeat(40), '', '0x10', ' 5', ...PERCENT],
  channel: ['temperature', 'count', '', 'nope', '\u00e9', "'; DROP TABLE readings;--", 'c'.repeat(300), 'a\u0000b', ...PERCENT],
  format: ['json', 'csv', 'xml', '', 'CSV', 'json ', ...PERCENT],
  token: ['x', '', ...PERCENT],
};
function historyQuery(rand: Rand, now: number): string {
  const parts: string[] = [];
  for (const [name, values] of Object.entries(HISTORY_VALUES)) {
    for (let n = chance(rand, 0.35) ? (chance(rand, 0.1) ? 2 : 1) : 0; n > 0; n--) {
      let value = chance(rand, 0.15) ? lineSafe(junk(rand, 12)) : pick(rand, values);
      if ((name === 'from' || name === 'to') && chance(rand, 0.4)) value = String(now + randomInt(rand, -7_200_000, 600_000));
      if ((name === 'from' || name === 'to') && chance(rand, 0.15)) value = new Date(now + randomInt(rand, -7_200_000, 600_000)).toISOString();
      parts.push(`${chance(rand, 0.05) ? `${name}[]` : name}=${chance(rand, 0.5) ? encoded(value) : lineSafe(value)}`);
    }
  }
  if (chance(rand, 0.05)) parts.push(lineSafe(junk(rand, 30)));
  return parts.length > 0 ? `?${parts.join(chance(rand, 0.05) ? ';' : '&')}` : '';
}

interface Route {
  path: string;
  method: string;
  kind: string;
}
function route(rand: Rand, now: number): Route {
  const id = deviceId(rand);
  const cid = pick(rand, ['1', '0', '-1', '1e3', 'NaN', '99999999999999999999', 'abc', '%00', '2', '9007199254740993', '0x1', ' 1']);
  const templates: Route[] = [
    { kind: 'login', method: 'POST', path: '/login' },
    { kind: 'logout', method: 'POST', path: '/logout' },
    { kind: 'session', method: 'GET', path: '/session' },
    { kind: 'devices', method: 'GET', path: '/api/devices' },
    { kind: 'provision', method: 'POST', path: '/api/devices' },
    { kind: 'device', method: 'GET', path: `/api/devices/${id}` },
    { kind: 'device', method: 'DELETE', path: `/api/devices/${id}` },
    { kind: 'readings', method: 'GET', path: `/api/devices/${id}/readings${historyQuery(rand, now)}` },
    { kind: 'readings', method: 'GET', path: `/api/devices/${TARGET_ID}/readings${historyQuery(rand, now)}` },
    { kind: 'command', method: 'POST', path: `/api/devices/${id}/commands` },
    { kind: 'command', method: 'POST', path: `/api/devices/${TARGET_ID}/commands` },
    { kind: 'commands', method: 'GET', path: `/api/devices/${id}/commands` },
    { kind: 'commands', method: 'GET', path: `/api/devices/${id}/commands/${cid}` },
    { kind: 'console', method: 'GET', path: `/api/devices/${id}/console` },
    { kind: 'healthz', method: 'GET', path: '/healthz' },
    { kind: 'metrics', method: 'GET', path: '/metrics' },
    { kind: 'page', method: 'GET', path: '/' },
    { kind: 'asset', method: 'GET', path: pick(rand, ['/assets/app.js', '/assets/style.css', '/assets/uplot.css', '/assets/favicon.svg', `/assets/${lineSafe(junk(rand, 20))}`, '/assets/..%2f..%2fpackage.json', '/assets/', '/assets']) },
    { kind: 'random', method: 'GET', path: `/${lineSafe(junk(rand, 40))}` },
    { kind: 'random', method: 'GET', path: pick(rand, ['/ws/device', '/ws/live', '/api', '/api/', '/api/devices/', '/API/DEVICES', '/index.html', '/favicon.ico', '/healthz/', '/metrics?x=1']) },
  ];
  const r = templates[randomInt(rand, 0, templates.length - 1)];
  let path = r.path;
  // decorations of the target: the parts of a URL parsers disagree on
  const d = rand();
  if (d < 0.03) path = `/${path}`;
  else if (d < 0.05) path = `${path}/`;
  else if (d < 0.07) path = `http://${pick(rand, ['x', '127.0.0.1', '[::1]:1', 'user:pw@h', '[', 'h:99999'])}${path}`;
  else if (d < 0.08) path = '*';
  else if (d < 0.09) path = pick(rand, ['//[', '/..%2f', '/..%2f..%2f', '/%2e%2e/%2e%2e/etc/passwd', '//api/devices', '/.', '/..', '\\api\\devices', '', '?', '#', '/#x', '/?%']);
  else if (d < 0.11) path += pick(rand, ['#frag', '?', '?&&', '?=', `?${pick(rand, PERCENT)}`, '/..', '/.', '%20', '%2F..', ';x']);
  else if (d < 0.12) path += `?q=${'q'.repeat(randomInt(rand, 1000, 40_000))}`;
  else if (d < 0.125) path = `/${'p'.repeat(randomInt(rand, 8000, 70_000))}`;
  else if (d < 0.14) path = path.replace(/[a-z]/g, (c) => (chance(rand, 0.2) ? `%${c.charCodeAt(0).toString(16)}` : c));
  return { ...r, path };
}

function jsonValue(rand: Rand, depth = 0): unknown {
  const k = randomInt(rand, 0, depth > 3 ? 5 : 8);
  switch (k) {
    case 0: return null;
    case 1: return chance(rand, 0.5);
    case 2: return pick(rand, [0, -0, 1, -1, 1.5, 2 ** 53 + 2, -(2 ** 63), 1e308, 5e-324, 4096, 600_001]);
    case 3: return junk(rand, 10);
    case 4: return pick(rand, ['', 'ping', 'reboot', 'set-rate', '*', '..', '__proto__', 'x'.repeat(300)]);
    case 5: return {};
    case 6: return Array.from({ length: randomInt(rand, 0, 4) }, () => jsonValue(rand, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let n = randomInt(rand, 0, 4); n > 0; n--) o[pick(rand, ['id', 'name', 'token', 'args', 'timeoutMs', 'type', 'devices', junk(rand, 5)])] = jsonValue(rand, depth + 1);
      return o;
    }
  }
}

interface Body {
  bytes: Buffer;
  type?: string;
}
function body(rand: Rand, kind: string, ctx: Ctx): Body {
  const json = (v: unknown) => Buffer.from(JSON.stringify(v) ?? 'null');
  const k = rand();
  let bytes: Buffer;
  if (k < 0.25) {
    // shaped for the route, with wrong types mixed in
    const value = kind === 'login'
      ? { token: chance(rand, 0.3) ? ctx.admin : jsonValue(rand) }
      : kind === 'provision'
        ? chance(rand, 0.3) ? {} : { id: chance(rand, 0.5) ? deviceId(rand) : jsonValue(rand), name: chance(rand, 0.5) ? junk(rand, 20) : jsonValue(rand) }
        : kind === 'command'
          ? { name: chance(rand, 0.7) ? pick(rand, ['ping', 'set-rate', 'noop', '']) : jsonValue(rand), args: chance(rand, 0.6) ? {} : jsonValue(rand), timeoutMs: chance(rand, 0.5) ? pick(rand, [1, 10_000, 600_000]) : jsonValue(rand) }
          : jsonValue(rand);
    bytes = json(value);
  } else if (k < 0.45) {
    bytes = Buffer.from(pick(rand, ['null', 'true', 'false', '0', '-0', '1e999', '-1e-999', '123456789012345678901234567890', '"s"', '""', '[]', '{}', '[null]', '{"a":null}',
      '{"__proto__":{"id":"x","token":"y"}}', '{"constructor":{"prototype":{}}}', '{"token":"a","token":"b"}', '\ufeff{"token":"x"}', ' {} ', '{"id":"fuzz-target"}', `{"token":"${ctx.admin}"}`]));
  } else if (k < 0.55) {
    bytes = json(jsonValue(rand));
    bytes = bytes.subarray(0, randomInt(rand, 0, bytes.length)); // truncated
  } else if (k < 0.62) {
    const n = randomInt(rand, 100, chance(rand, 0.9) ? 3000 : 60_000);
    bytes = Buffer.from(chance(rand, 0.5) ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n));
  } else if (k < 0.66) {
    bytes = Buffer.from(`{"timeoutMs":${'9'.repeat(randomInt(rand, 20, 5000))},"name":"ping","args":{}}`);
  } else if (k < 0.78) {
    bytes = Buffer.from(Array.from({ length: randomInt(rand, 0, 600) }, () => randomInt(rand, 0, 255)));
  } else if (k < 0.85) {
    bytes = Buffer.from(junk(rand, 300));
  } else if (k < 0.9) {
    // bigger than any route takes
    bytes = Buffer.alloc(randomInt(rand, 4097, chance(rand, 0.1) ? 1_100_000 : 70_000), 0x61);
    if (chance(rand, 0.5)) bytes = Buffer.concat([Buffer.from('{"token":"'), bytes, Buffer.from('"}')]);
  } else if (k < 0.93) {
    bytes = Buffer.from(`token=${ctx.admin}`);
  } else {
    bytes = Buffer.alloc(0);
  }
  const type = chance(rand, 0.7)
    ? 'application/json'
    : pick(rand, [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=--x', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/octet-stream', '*/*', lineSafe(junk(rand, 20)), 'application/json, text/plain']);
  return { bytes, type };
}

const COOKIE_JUNK = (ctx: Ctx) => [
  'hub_token=%', 'hub_session=%E0%A4%A', 'hub_session=%', `hub_token=${ctx.admin}`, `hub_session=${ctx.admin}`, 'hub_session=', 'hub_session', '=', ';;;', '; ;=;',
  // a page of another hub on the same host (cookies ignore ports) set the same names
  `hub_session=other-port-session; ${ctx.session}`, `${ctx.session}; hub_session=other-port-session`, `hub_token=other; hub_token=%zz; ${ctx.session}`,
  `hub_session=${'A'.repeat(5000)}`, Array.from({ length: 300 }, (_, i) => `c${i}=${i}`).join('; '), `${ctx.session}${'; x=1'.repeat(200)}`,
  'hub_session="quoted"', 'hub_session=a=b=c', '\u00e9=\u00e9', `hub_session=${ctx.session.split('=')[1] ?? ''}%`,
];
const AUTH_JUNK = (ctx: Ctx) => [
  'Bearer', 'Bearer ', `Bearer  ${ctx.admin}  `, `bearer ${ctx.admin}`, `BEARER ${ctx.admin}`, `Basic ${Buffer.from(`x:${ctx.admin}`).toString('base64')}`, `Bearer ${ctx.admin} extra`,
  `Bearer ${'t'.repeat(20_000)}`, `Bearer ${ctx.admin}x`, `Bearer ${ctx.admin.slice(1)}`, 'Bearer %', 'Bearer %E0%A4%A', `Bearer\t${ctx.admin}`, 'Token x', '',
];

interface Headers {
  lines: string[];
  /** false when a header is malformed enough that the request may not end where the test thinks */
  clean: boolean;
}
function headers(rand: Rand, ctx: Ctx, kind: string, endpoint: 'http' | 'device' | 'live'): Headers & { credential: boolean | undefined } {
  const lines: string[] = [];
  let clean = true;
  let credential: boolean | undefined = false;
  const h = rand();
  if (h < 0.9) lines.push(`Host: ${ctx.host}`);
  else if (h < 0.93) { /* no Host */ }
  else lines.push(`Host: ${pick(rand, ['evil.example', '', '[', `${ctx.host}, evil.example`, 'h'.repeat(9000), '127.0.0.1', `127.0.0.1:${ctx.port}\u0000`])}`);
  if (chance(rand, 0.02)) lines.push(`Host: ${ctx.host}`);

  const a = rand();
  const good = endpoint === 'device' ? ctx.deviceToken : ctx.admin;
  if (a < 0.3) { /* none */ } else if (a < 0.6) {
    lines.push(`Authorization: Bearer ${good}`);
    credential = true;
  } else if (a < 0.72) lines.push(`Authorization: Bearer ${pick(rand, ['wrong', 'test-admin-token-', ctx.deviceToken, ctx.admin, lineSafe(junk(rand, 40))].filter((t) => t !== good))}`);
  else if (a < 0.75) lines.push(`Authorization: Bearer ${endpoint === 'device' ? ctx.admin : ctx.deviceToken}`);
  else {
    lines.push(`Authorization: ${pick(rand, AUTH_JUNK(ctx))}`);
    credential = undefined;
  }
  if (chance(rand, 0.02)) {
    lines.push(`Authorization: Bearer ${pick(rand, ['wrong', good])}`);
    credential = undefined;
  }

  const c = rand();
  const cookieOk = endpoint !== 'device' && kind !== 'logout'; // a logout ends the shared session: it gets other cookies
  if (c < 0.55) { /* none */ } else if (c < 0.7 && cookieOk) {
    lines.push(`Cookie: ${ctx.session}`);
    if (endpoint === 'live' || endpoint === 'http') credential = credential === false ? true : credential;
  } else {
    const cookie = pick(rand, COOKIE_JUNK(ctx));
    if (cookieOk || !cookie.includes(ctx.session)) {
      lines.push(`Cookie: ${cookie}`);
      if (cookie.includes(ctx.session) || cookie.includes(ctx.admin)) credential = credential === false ? undefined : credential;
    }
  }
  if (chance(rand, 0.03)) lines.push(`Cookie: ${pick(rand, ['hub_token=%', 'a=b'])}`);

  const o = rand();
  if (o > 0.75) lines.push(`Origin: ${pick(rand, [`http://${ctx.host}`, `http://${ctx.host}`, 'http://evil.example', 'null', 'http://[', '*', `http://127.0.0.1:${ctx.port + 1}`, `https://${ctx.host}`, lineSafe(junk(rand, 20))])}`);

  for (let n = chance(rand, 0.25) ? randomInt(rand, 1, 4) : 0; n > 0; n--) {
    const x = rand();
    if (x < 0.1) lines.push(`X-Forwarded-For: ${pick(rand, ['1.2.3.4', '127.0.0.1', GOOD_ADDRESS, '::1', 'unknown', '[', '1.2.3.4, 5.6.7.8'])}`);
    else if (x < 0.2) {
      const etag = pick(rand, Object.values(ctx.etags));
      lines.push(`If-None-Match: ${pick(rand, [etag, etag, '*', '"x"', `W/${etag}`, ''])}`);
    }
    else if (x < 0.3) lines.push(`Connection: ${pick(rand, ['close', 'keep-alive', 'Upgrade', 'TE', 'x'])}`);
    else if (x < 0.35) lines.push('Expect: 100-continue');
    else if (x < 0.45) lines.push(`Accept-Encoding: ${pick(rand, ['gzip, br', 'identity', '*', 'x;q=2'])}`);
    else if (x < 0.5) lines.push(`Range: ${pick(rand, ['bytes=0-1', 'bytes=-1', 'bytes=x'])}`);
    else if (x < 0.55) lines.push(`X-Big: ${'b'.repeat(randomInt(rand, 4000, 40_000))}`);
    else if (x < 0.6) for (let i = randomInt(rand, 50, 300); i > 0; i--) lines.push(`X-Many-${i}: ${i}`);
    else if (x < 0.65) lines.push(`Accept: ${pick(rand, ['application/json', 'text/csv', '*/*', lineSafe(junk(rand, 10))])}`);
    else if (x < 0.7) lines.push(`Upgrade: ${pick(rand, ['h2c', 'websocket', 'x'])}`);
    else if (x < 0.75) lines.push(`X-Unicode: ${junk(rand, 20).replace(/[\r\n]/g, '')}`);
    else {
      clean = false;
      lines.push(pick(rand, ['Bad Header: x', 'X-Nul: a\u0000b', ':x', 'NoColon', ' folded: continuation', 'X-Bare-Cr: a\rb', `${junk(rand, 8)}: ${junk(rand, 8)}`, 'X-Tab\t: x', '\u00e9: x']));
    }
  }
  return { lines, clean, credential };
}

function randomMethod(rand: Rand, usual: string): string {
  const m = rand();
  if (m < 0.78) return usual;
  if (m < 0.95) return pick(rand, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'PROPFIND', 'PURGE', 'TRACE', 'SEARCH']);
  if (m < 0.955) return 'CONNECT';
  return pick(rand, ['get', 'GETT', 'G\tET', '', 'X'.repeat(100), '\u00e9', 'BREW', 'PRI', 'GET GET', lineSafe(junk(rand, 8))]);
}
const version = (rand: Rand) => (chance(rand, 0.96) ? 'HTTP/1.1' : pick(rand, ['HTTP/1.0', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/11', '']));

/** Byte-level damage to a whole request. */
function mutateBytes(rand: Rand, bytes: Buffer): Buffer {
  let b = Buffer.from(bytes);
  for (let n = randomInt(rand, 1, 3); n > 0; n--) {
    if (b.length === 0) break;
    const at = randomInt(rand, 0, b.length - 1);
    switch (randomInt(rand, 0, 5)) {
      case 0: b[at] ^= 1 << randomInt(rand, 0, 7); break;
      case 1: b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: randomInt(rand, 1, 8) }, () => randomInt(rand, 0, 255))), b.subarray(at)]); break;
      case 2: b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + randomInt(rand, 1, 20)))]); break;
      case 3: b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + randomInt(rand, 1, 40)), b.subarray(at)]); break;
      case 4: b = Buffer.from(b.toString('latin1').replace(/\r\n/g, () => pick(rand, ['\r\n', '\r\n', '\n', '\r', '\r\n\r\n'])), 'latin1'); break;
      case 5: b[at] = pick(rand, [0, 0x0d, 0x0a, 0x20, 0x3a, 0x25, 0x80, 0xff]); break;
    }
  }
  return b;
}

interface HttpCase {
  bytes: Buffer;
  /** an operator route (/api/...) asked without any valid credential: it must not succeed */
  unauthorizedApi: boolean;
  /** framing certain: the hub answers (or closes) without waiting for more and without leftovers */
  clean: boolean;
  head: boolean;
  /** keep: read one answer and reuse the connection; end: half-close and read to the end; cut: write a prefix and destroy */
  ending: 'keep' | 'end' | 'cut';
  fresh: boolean;
  address: string;
}

function httpCase(rand: Rand, ctx: Ctx, now: number): HttpCase {
  const r = route(rand, now);
  const method = randomMethod(rand, r.method);
  // the good device is never named; the shared target is not deleted
  if (method === 'DELETE') r.path = r.path.replace(TARGET_ID, 'fuzz-gone').replace(SOCKET_ID, 'fuzz-gone');
  const hs = headers(rand, ctx, r.kind, 'http');
  if (ctx.etags[r.path] && chance(rand, 0.3)) hs.lines.push(`If-None-Match: ${ctx.etags[r.path]}`);
  let clean = hs.clean && !/[\s]/.test(r.path) && !/[\s]/.test(method);
  const lines = [`${method} ${r.path} ${version(rand)}`, ...hs.lines];
  let payload: Buffer = Buffer.alloc(0);
  const withBody = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) ? chance(rand, 0.9) : chance(rand, 0.08);
  if (withBody) {
    const b = body(rand, r.kind, ctx);
    if (b.type !== undefined) lines.push(`Content-Type: ${b.type}`);
    const f = rand();
    if (f < 0.72) {
      lines.push(`Content-Length: ${b.bytes.length}`);
      payload = b.bytes;
    } else if (f < 0.84) {
      lines.push(`Transfer-Encoding: ${pick(rand, ['chunked', 'chunked', 'Chunked', 'gzip, chunked'])}`);
      const chunks: Buffer[] = [];
      for (let at = 0; at < b.bytes.length;) {
        const n = Math.min(b.bytes.length - at, randomInt(rand, 1, 2000));
        chunks.push(Buffer.from(`${n.toString(16)}${chance(rand, 0.05) ? ';ext=1' : ''}\r\n`), b.bytes.subarray(at, at + n), Buffer.from('\r\n'));
        at += n;
      }
      chunks.push(Buffer.from(chance(rand, 0.1) ? '0\r\nX-Trailer: 1\r\n\r\n' : '0\r\n\r\n'));
      payload = Buffer.concat(chunks);
    } else if (f < 0.9) {
      // bad chunks: the hub may wait for more or find leftovers
      clean = false;
      lines.push('Transfer-Encoding: chunked');
      payload = Buffer.concat([
        Buffer.from(pick(rand, ['zz\r\n', '-1\r\n', 'ffffffffffffffffffff\r\n', `${(b.bytes.length + 5).toString(16)}\r\n`, '1\r\n', '5 \r\n', '0x5\r\n', ''])),
        b.bytes,
        Buffer.from(pick(rand, ['\r\n0\r\n\r\n', '\r\n', '', '0\r\n\r\n', '\r\n0\r\n'])),
      ]);
    } else if (f < 0.97) {
      clean = false;
      lines.push(...pick(rand, [
        [`Content-Length: ${b.bytes.length + randomInt(rand, 1, 100)}`],
        [`Content-Length: ${Math.max(0, b.bytes.length - randomInt(rand, 1, 100))}`],
        ['Content-Length: -1'], ['Content-Length: abc'], ['Content-Length: 1e3'], [`Content-Length:  ${b.bytes.length} `],
        [`Content-Length: ${b.bytes.length}`, `Content-Length: ${b.bytes.length + 1}`], ['Content-Length: 99999999999999999999'], ['Content-Length: 9999999999'],
        [`Content-Length: ${b.bytes.length}, ${b.bytes.length}`], [`Content-Length: ${b.bytes.length}`, 'Transfer-Encoding: chunked'], [],
      ]));
      payload = b.bytes;
    } else {
      clean = false;
      payload = b.bytes; // a body with no framing at all
    }
  }
  let bytes: Buffer = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, chance(rand, 0.1) ? 'latin1' : 'utf8'), payload]);
  if (chance(rand, 0.1)) {
    bytes = mutateBytes(rand, bytes);
    clean = false;
  }
  const e = rand();
  const ending = e < 0.06 ? 'cut' : e < 0.12 || !clean ? 'end' : 'keep';
  if (ending === 'cut') bytes = bytes.subarray(0, randomInt(rand, 0, bytes.length - 1));
  else if (ending === 'end' && chance(rand, 0.4)) bytes = bytes.subarray(0, randomInt(rand, 0, bytes.length)); // ended mid-headers or mid-body
  const unauthorizedApi = clean && hs.credential === false && /^(?:http:\/\/[^/]*)?\/api\//.test(r.path);
  return { bytes, clean, unauthorizedApi, head: method === 'HEAD', ending, fresh: chance(rand, 0.2), address: fuzzAddress(rand) };
}

const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
interface UpgradeCase {
  bytes: Buffer;
  /** false: no valid credential for the endpoint in the request, so a 101 is a finding; undefined: can't tell */
  credential: boolean | undefined;
  address: string;
  after: 'destroy' | 'close-frame' | 'garbage';
}
function upgradeCase(rand: Rand, ctx: Ctx): UpgradeCase {
  const e = rand();
  const endpoint = e < 0.42 ? 'device' : e < 0.84 ? 'live' : 'other';
  let path = endpoint === 'device' ? '/ws/device' : endpoint === 'live' ? '/ws/live' : pick(rand, ['/', '/api/devices', '/ws', '/ws/live/', '/WS/LIVE', '/ws/%', '/ws/live#x', `/${lineSafe(junk(rand, 20))}`, '*', '/healthz']);
  const p = rand();
  let credential: boolean | undefined;
  let odd = false;
  if (p < 0.03) path = '//[';
  else if (p < 0.06) {
    path = pick(rand, ['//[/ws/live', '/ws/live/..%2f', '/..%2fws/live', 'http://x/ws/live', 'http://[/ws/device', 'http://x/ws/device', 'http://u:p@x/ws/live', '/%E0%A4%A', `/ws/live?${'x'.repeat(randomInt(rand, 1000, 30_000))}`]);
    odd = true;
  } else if (p < 0.12) path += pick(rand, ['?token=%', `?token=${ctx.deviceToken}`, `?token=${ctx.admin}`, '?token=', '?token=%E0%A4%A', `?token=${ctx.deviceToken}&token=x`, '?%']);
  const method = chance(rand, 0.95) ? 'GET' : pick(rand, ['HEAD', 'get', 'GETT', 'OPTIONS', lineSafe(junk(rand, 5))]);
  const hs = headers(rand, ctx, 'upgrade', endpoint === 'device' ? 'device' : 'live');
  credential = hs.credential;
  if (path.includes('token=')) credential = credential === false ? undefined : credential;
  if (endpoint === 'other' || odd || path === '//[') credential = undefined;
  const lines = [`${method} ${path} ${version(rand)}`, ...hs.lines];
  const u = rand();
  if (u < 0.88) lines.push('Upgrade: websocket', 'Connection: Upgrade');
  else lines.push(...pick(rand, [['Upgrade: WebSocket', 'Connection: keep-alive, Upgrade'], ['Upgrade: h2c', 'Connection: Upgrade'], ['Connection: Upgrade'], ['Upgrade: websocket'], ['Upgrade: websocket, h2c', 'Connection: upgrade'], ['Upgrade: ', 'Connection: Upgrade'], ['Upgrade: websocket', 'Connection: close']]));
  const k = rand();
  if (k < 0.9) lines.push(`Sec-WebSocket-Key: ${WS_KEY}`);
  else if (k < 0.95) lines.push(`Sec-WebSocket-Key: ${pick(rand, ['x', '', 'dGhlIHNhbXBsZSBub25jZQ', `${WS_KEY}, ${WS_KEY}`, lineSafe(junk(rand, 24))])}`);
  const v = rand();
  if (v < 0.9) lines.push('Sec-WebSocket-Version: 13');
  else if (v < 0.96) lines.push(`Sec-WebSocket-Version: ${pick(rand, ['8', '12', 'x', '', '13, 8', '99999999999999999999'])}`);
  if (chance(rand, 0.08)) lines.push(`Sec-WebSocket-Protocol: ${pick(rand, ['chat', ',,,', 'a b', 'a, a', lineSafe(junk(rand, 10))])}`);
  if (chance(rand, 0.08)) lines.push(`Sec-WebSocket-Extensions: ${pick(rand, ['permessage-deflate', 'permessage-deflate; client_max_window_bits=99', 'x; y', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', lineSafe(junk(rand, 10))])}`);
  let bytes: Buffer = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, chance(rand, 0.1) ? 'latin1' : 'utf8');
  if (chance(rand, 0.08)) {
    bytes = mutateBytes(rand, bytes);
    credential = undefined;
  }
  if (chance(rand, 0.03)) bytes = Buffer.concat([bytes, Buffer.from(Array.from({ length: randomInt(rand, 1, 64) }, () => randomInt(rand, 0, 255)))]); // early frame bytes
  return { bytes, credential, address: fuzzAddress(rand), after: pick(rand, ['destroy', 'destroy', 'close-frame', 'garbage']) };
}

interface LiveCase {
  data: string | Buffer;
  binary: boolean;
  /** the hub must answer `subscribed` (true) or close with 4000 (false) */
  valid: boolean;
  fragments: number;
}
/** The README's subscription message: the oracle this test holds the hub to. */
function isSubscription(text: string): boolean {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const { type, devices, channels } = v as Record<string, unknown>;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');
  return type === 'subscribe' && (devices === '*' || strings(devices)) && (channels === undefined || strings(channels));
}
function liveCase(rand: Rand): LiveCase {
  const names = () => Array.from({ length: randomInt(rand, 0, chance(rand, 0.05) ? 2000 : 5) }, () => (chance(rand, 0.5) ? pick(rand, [GOOD_ID, TARGET_ID, '', '*', 'temperature']) : junk(rand, 10)));
  const k = rand();
  let text: string;
  if (k < 0.3) {
    const m: Record<string, unknown> = { type: 'subscribe', devices: chance(rand, 0.4) ? '*' : names() };
    if (chance(rand, 0.4)) m.channels = names();
    text = JSON.stringify(m, null, chance(rand, 0.2) ? randomInt(rand, 1, 4) : undefined);
    if (Buffer.byteLength(text) > 60_000) text = '{"type":"subscribe","devices":"*"}'; // under the 64 KiB message limit (1009)
  } else if (k < 0.55) {
    text = pick(rand, [
      'null', 'true', 'false', '0', '-1', '1e308', '1e999', '"subscribe"', '""', '[]', '[{"type":"subscribe","devices":"*"}]', '{}', '{"type":null}', '{"type":"subscribe"}',
      '{"type":"subscribe","devices":null}', '{"type":"subscribe","devices":"all"}', '{"type":"subscribe","devices":[1]}', '{"type":"subscribe","devices":[null]}',
      '{"type":"subscribe","devices":{}}', '{"type":"subscribe","devices":{"0":"a","length":1}}', '{"type":"subscribe","devices":"*","channels":"x"}', '{"type":"subscribe","devices":"*","channels":[1]}',
      '{"type":"subscribe","devices":"*","channels":{}}', '{"type":"SUBSCRIBE","devices":"*"}', '{"type":["subscribe"],"devices":"*"}', '{"__proto__":{"type":"subscribe","devices":"*"}}',
      '{"type":"subscribe","devices":"*","type":"x"}', '{"type":"subscribe","devices":["a",["b"]]}', '{"type":"subscribe","devices":"**"}', '{"type":"unsubscribe","devices":"*"}',
      '{"type":"subscribe ","devices":"*"}', `${'['.repeat(5000)}${']'.repeat(5000)}`, `${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`,
    ]);
  } else if (k < 0.7) {
    text = JSON.stringify(jsonValue(rand)) ?? 'null';
  } else if (k < 0.88) {
    text = chance(rand, 0.5)
      ? pick(rand, ['', ' ', 'subscribe', '{', '{"type":"subscribe"', 'undefined', 'NaN', "{'type':'subscribe','devices':'*'}", '\u0000', 'null null', '[1,]', '{"type":"subscribe","devices":"*"}x', '\ufeff{"type":"subscribe","devices":"*"}'])
      : junk(rand, 200);
  } else {
    const bytes = Buffer.from(Array.from({ length: randomInt(rand, 0, 300) }, () => randomInt(rand, 0, 255)));
    return { data: bytes, binary: true, valid: false, fragments: 1 };
  }
  return { data: text, binary: false, valid: isSubscription(text), fragments: chance(rand, 0.05) ? randomInt(rand, 2, 3) : 1 };
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 connection and a response parser

interface Parsed {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** The body as sent before its content coding (the hub compresses JSON when the client accepts it). */
function decodedBody(res: Parsed): Buffer {
  const coding = (res.headers.get('content-encoding') ?? '').trim().toLowerCase();
  if (coding === 'gzip') return gunzipSync(res.body);
  if (coding === 'br') return brotliDecompressSync(res.body);
  if (coding === 'deflate') return inflateSync(res.body);
  return res.body;
}

/** One response from the start of `buf`: the response and the bytes after it, 'more' when incomplete, or an error. */
function parseResponse(buf: Buffer, headRequest: boolean, closed: boolean): { res: Parsed; rest: Buffer } | 'more' | { error: string } {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return closed ? (buf.length === 0 ? 'more' : { error: 'response head cut short' }) : 'more';
  const [statusLine, ...headerLines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) return { error: `bad status line ${JSON.stringify(statusLine)}` };
  const status = Number(m[1]);
  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return { error: `bad response header ${JSON.stringify(line)}` };
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${line.slice(colon + 1).trim()}` : line.slice(colon + 1).trim());
  }
  let at = end + 4;
  if (headRequest || status === 204 || status === 304 || status === 101 || (status >= 100 && status < 200)) {
    return { res: { status, headers, body: Buffer.alloc(0) }, rest: buf.subarray(at) };
  }
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol < 0) return closed ? { error: 'chunked response cut short' } : 'more';
      const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
      if (!Number.isFinite(size)) return { error: 'bad chunk size in response' };
      if (size === 0) {
        const trailerEnd = buf.indexOf('\r\n', eol + 2) === eol + 2 ? eol + 4 : buf.indexOf('\r\n\r\n', eol + 2) + 4;
        if (trailerEnd < 4 || trailerEnd > buf.length) return closed ? { error: 'chunked response cut short' } : 'more';
        return { res: { status, headers, body: Buffer.concat(parts) }, rest: buf.subarray(trailerEnd) };
      }
      if (buf.length < eol + 2 + size + 2) return closed ? { error: 'chunked response cut short' } : 'more';
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  if (headers.has('content-length')) {
    const length = Number(headers.get('content-length'));
    if (buf.length < at + length) return closed ? { error: 'response body cut short' } : 'more';
    return { res: { status, headers, body: buf.subarray(at, at + length) }, rest: buf.subarray(at + length) };
  }
  // no framing: the body runs to the end of the connection
  return closed ? { res: { status, headers, body: buf.subarray(at) }, rest: Buffer.alloc(0) } : 'more';
}

/** Bumped when the in-process hub throws: waits for an answer that will never come stop early. */
const crashSignal = { count: 0, waiters: new Set<() => void>() };
/** The first of `promises`, or 'timeout' after `ms`, or 'crashed' if the hub throws first. */
async function firstOf<T>(promises: Promise<T>[], ms: number): Promise<T | 'timeout' | 'crashed'> {
  let wake = () => undefined as void;
  let timer: NodeJS.Timeout | undefined;
  const stop = new Promise<'timeout' | 'crashed'>((resolve) => {
    wake = () => resolve('crashed');
    crashSignal.waiters.add(wake);
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([...promises, stop]);
  } finally {
    clearTimeout(timer);
    crashSignal.waiters.delete(wake);
  }
}

class RawConnection {
  readonly socket: Socket;
  private buf = Buffer.alloc(0);
  closed = false;
  private wake: (() => void) | null = null;
  readonly ready: Promise<boolean>;

  constructor(port: number, localAddress: string) {
    this.socket = connect({ port, host: '127.0.0.1', localAddress });
    this.socket.on('data', (chunk) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.wake?.();
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    this.ready = new Promise((resolve) => {
      this.socket.once('connect', () => resolve(true));
      this.socket.once('close', () => resolve(false));
    });
  }

  /** Writes in a few pieces, so the hub's parser also sees requests split at odd places. */
  async write(bytes: Buffer, rand: Rand): Promise<void> {
    const pieces = chance(rand, 0.15) ? randomInt(rand, 2, 4) : 1;
    let at = 0;
    for (let i = 1; i <= pieces && !this.closed; i++) {
      const to = i === pieces ? bytes.length : randomInt(rand, at, bytes.length);
      this.socket.write(bytes.subarray(at, to));
      at = to;
      if (i < pieces) await new Promise((r) => setImmediate(r));
    }
  }

  private async waitData(deadline: number): Promise<boolean> {
    if (this.closed) return false;
    const ms = deadline - Date.now();
    if (ms <= 0) return false;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        crashSignal.waiters.delete(done);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
      crashSignal.waiters.add(done);
    });
    return true;
  }

  /** The next response; 'closed' when the hub closed before one began; 'timeout'; 'crashed' when the hub threw meanwhile. */
  async next(headRequest: boolean, timeoutMs: number): Promise<Parsed | 'closed' | 'timeout' | 'crashed' | { error: string }> {
    const deadline = Date.now() + timeoutMs;
    const crashes = crashSignal.count;
    for (;;) {
      const closed = this.closed;
      const r = parseResponse(this.buf, headRequest, closed);
      if (r !== 'more') {
        if ('error' in r) return r;
        this.buf = Buffer.from(r.rest);
        if (r.res.status >= 100 && r.res.status < 200 && r.res.status !== 101) continue; // 100 Continue
        return r.res;
      }
      if (closed) return 'closed';
      if (crashSignal.count !== crashes) return 'crashed';
      if (!(await this.waitData(deadline))) {
        if (this.closed) continue;
        return 'timeout';
      }
    }
  }

  /** Waits for the hub to close the connection; false on timeout (or when the hub threw meanwhile). */
  async untilClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const crashes = crashSignal.count;
    while (!this.closed) {
      if (crashSignal.count !== crashes) return false;
      if (!(await this.waitData(deadline)) && !this.closed) return false;
    }
    return true;
  }

  get pending(): Buffer {
    return this.buf;
  }

  /** the last few requests written, for a finding that may be about an earlier one */
  readonly history: string[] = [];

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

// A masked client close frame (RFC 6455 §5.5.1), zero mask.
const CLOSE_FRAME = Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);

// ---------------------------------------------------------------------------------------------

/** Readable, bounded rendering of an input for a failure message. */
function show(bytes: Buffer | string): string {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('latin1');
  const shown = text.length <= 1200 ? text : `${text.slice(0, 800)}…(${text.length} bytes in all)…${text.slice(-300)}`;
  return JSON.stringify(shown);
}

function forcedGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

const openFds = () => readdirSync('/proc/self/fd').length;

describe('fuzzing the HTTP front door', () => {
  let hub: TestHub;
  const cleanup: (() => void)[] = [];
  beforeAll(async () => {
    hub = await startTestHub();
  });
  afterAll(async () => {
    for (const undo of cleanup) undo();
    await hub?.stop();
  });

  it(`answers ${HTTP_CASES} raw requests, ${UPGRADE_CASES} upgrade requests and ${LIVE_CASES} live messages only as documented; a good device loses nothing`, async () => {
    const started = Date.now();
    console.info(`http fuzz: seed ${SEED} (HTTP_FUZZ_SEED=${SEED} repeats this run)`);
    const findings: string[] = [];
    const finding = (what: string) => {
      if (process.env.HTTP_FUZZ_PROGRESS) console.error(`FINDING ${what.slice(0, 3000)}`);
      if (findings.length < 40 && !findings.includes(what)) findings.push(what);
    };
    // Which inputs were on the wire: if the in-process hub throws, one of them did it.
    const inFlight = new Map<string, string>();
    const crashes = new Map<string, { count: number; report: string }>();
    const onCrash = (err: unknown) => {
      const stack = (err as Error)?.stack ?? String(err);
      const key = stack.split('\n').slice(0, 2).join(' ');
      const known = crashes.get(key);
      if (known) known.count++;
      else crashes.set(key, { count: 1, report: `${stack}\n  inputs in flight:\n${[...inFlight].slice(0, 30).map(([k, v]) => `    ${k}: ${v}`).join('\n')}` });
      crashSignal.count++;
      for (const wake of [...crashSignal.waiters]) wake();
    };
    // only to fail this test with the input that did it, never to keep a broken hub going
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    const stopListening = () => {
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    };
    cleanup.push(stopListening);

    // a good device, from its own address, streams through the whole run
    const good = hub.device(GOOD_ID, await hub.provision(GOOD_ID), { localAddress: GOOD_ADDRESS });
    await good.connect();
    const t0 = Date.now() - 120_000;
    let goodSent = 0;
    const stream = setInterval(() => good.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: goodSent }], t0 + goodSent++), 5);
    cleanup.push(() => clearInterval(stream));

    await hub.provision(TARGET_ID);
    const login = await fetch(`${hub.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: hub.adminToken }) });
    const session = (login.headers.get('set-cookie') ?? '').split(';')[0];
    expect(login.status, 'login').toBe(204);
    // every route once, so lazily built things (the dashboard bundle) are not counted as growth
    const etags: Record<string, string> = {};
    for (const path of ['/', '/assets/app.js', '/assets/style.css', '/assets/uplot.css', '/assets/favicon.svg', '/session', '/healthz', '/metrics', '/api/devices', `/api/devices/${TARGET_ID}/readings`, `/api/devices/${TARGET_ID}/commands`]) {
      const res = await hub.api(path);
      await res.arrayBuffer();
      const etag = res.headers.get('etag');
      if (etag) etags[path] = etag;
    }
    const ctx: Ctx = { port: hub.port, host: `127.0.0.1:${hub.port}`, admin: hub.adminToken, session, deviceToken: await hub.provision(SOCKET_ID), etags };

    const statuses = new Map<number, number>();
    const count = (m: Map<number, number>, k: number) => m.set(k, (m.get(k) ?? 0) + 1);
    const tally = { requests: 0, answers: 0, closedUnanswered: 0, cut: 0, ended: 0, upgrades: 0, upgraded: 0, liveMessages: 0, liveValid: 0, liveConnections: 0, nonJsonErrors: 0 };
    const liveCloses = new Map<number, number>();

    /** Checks one answer: documented status, error bodies in the API's shape. */
    const samples = new Map<number, string>();
    function check(res: Parsed, label: string, input: Buffer): void {
      tally.answers++;
      count(statuses, res.status);
      if (!samples.has(res.status)) samples.set(res.status, `${label}: ${show(input)} → ${show(res.body)}`);
      if (!DOCUMENTED_STATUS.has(res.status)) finding(`${label}: HTTP ${res.status} ${show(res.body)}\n  input: ${show(input)}`);
      const type = res.headers.get('content-type') ?? '';
      if (/json/i.test(type) && res.body.length > 0) {
        let value: unknown;
        try {
          value = JSON.parse(decodedBody(res).toString('utf8'));
        } catch {
          return finding(`${label}: HTTP ${res.status} with a body that is not JSON: ${show(res.body)}\n  input: ${show(input)}`);
        }
        if (res.status >= 400) {
          const error = (value as { error?: { code?: unknown; message?: unknown } })?.error;
          if (typeof error?.code !== 'string' || typeof error?.message !== 'string' || Object.keys(value as object).length !== 1) {
            finding(`${label}: HTTP ${res.status} error body not {error:{code,message}}: ${show(res.body)}\n  input: ${show(input)}`);
          }
        }
      } else if (res.status >= 400 && res.body.length > 0) {
        tally.nonJsonErrors++;
      }
    }

    let heapAtWarmup = 0;
    let rssAtWarmup = 0;
    const gc = forcedGc();
    const heapNow = () => {
      gc?.();
      gc?.();
      return process.memoryUsage().heapUsed;
    };
    const fdsBefore = openFds();

    // --- (a) raw HTTP requests -------------------------------------------------------------
    let nextHttp = 0;
    async function httpWorker(w: number): Promise<void> {
      let conn: RawConnection | null = null;
      while (nextHttp < HTTP_CASES) {
        const i = nextHttp++;
        if (i === Math.floor(HTTP_CASES / 5)) {
          heapAtWarmup = heapNow();
          rssAtWarmup = process.memoryUsage().rss;
        }
        const rand = seededRandom(deriveSeed(SEED, 1, i));
        const c = httpCase(rand, ctx, Date.now());
        const label = `seed ${SEED} http #${i}`;
        tally.requests++;
        if (!conn || conn.closed || c.fresh || c.ending !== 'keep') {
          conn?.destroy();
          conn = new RawConnection(hub.port, c.address);
          if (!(await conn.ready)) {
            finding(`${label}: could not connect from ${c.address}`);
            continue;
          }
        }
        const key = `http#${i}/w${w}`;
        inFlight.set(key, show(c.bytes));
        conn.history.push(`${label}: ${show(c.bytes)}`);
        if (conn.history.length > 4) conn.history.shift();
        const earlier = () => (conn!.history.length > 1 ? `\n  earlier on this connection:\n    ${conn!.history.slice(0, -1).join('\n    ')}` : '');
        try {
          if (c.ending === 'cut') {
            tally.cut++;
            await conn.write(c.bytes, rand);
            if (chance(rand, 0.5)) await new Promise((r) => setTimeout(r, randomInt(rand, 0, 3)));
            conn.destroy();
            conn = null;
            continue;
          }
          // sometimes the same clean request twice in one write: pipelining
          // (not with Expect: 100-continue, where Node.js writes the second interim answer inside the second response)
          const twice = c.ending === 'keep' && chance(rand, 0.05) && !c.bytes.includes('Expect:');
          await conn.write(twice ? Buffer.concat([c.bytes, c.bytes]) : c.bytes, rand);
          if (c.ending === 'end') {
            tally.ended++;
            conn.socket.end();
            const crashes = crashSignal.count;
            if (!(await conn.untilClosed(ANSWER_MS)) && crashSignal.count === crashes) finding(`${label}: connection still open ${ANSWER_MS} ms after the client ended it\n  input: ${show(c.bytes)}`);
            for (;;) {
              const res = await conn.next(c.head, 0);
              if (res === 'closed' || res === 'timeout' || res === 'crashed') break;
              if ('error' in res) {
                finding(`${label}: unparsable response (${res.error}): ${show(conn.pending)}\n  input: ${show(c.bytes)}${earlier()}`);
                break;
              }
              check(res, label, c.bytes);
            }
            conn.destroy();
            conn = null;
            continue;
          }
          for (let n = twice ? 2 : 1; n > 0; n--) {
            const res = await conn.next(c.head, ANSWER_MS);
            if (res === 'closed') {
              tally.closedUnanswered++;
              break;
            }
            if (res === 'crashed') {
              conn.destroy();
              break;
            }
            if (res === 'timeout') {
              finding(`${label}: no answer within ${ANSWER_MS} ms to a complete request\n  input: ${show(c.bytes)}`);
              conn.destroy();
              break;
            }
            if ('error' in res) {
              finding(`${label}: unparsable response (${res.error}): ${show(conn.pending)}\n  input: ${show(c.bytes)}${earlier()}`);
              conn.destroy();
              break;
            }
            check(res, label, c.bytes);
            if (c.unauthorizedApi && res.status < 300) finding(`${label}: HTTP ${res.status} from an operator route without a valid credential\n  input: ${show(c.bytes)}`);
            if (/close/i.test(res.headers.get('connection') ?? '') || res.status === 101) {
              conn.destroy();
              break;
            }
          }
        } finally {
          inFlight.delete(key);
        }
      }
      conn?.destroy();
    }

    // --- (b) WebSocket upgrade requests ------------------------------------------------------
    let nextUpgrade = 0;
    async function upgradeWorker(w: number): Promise<void> {
      while (nextUpgrade < UPGRADE_CASES) {
        const i = nextUpgrade++;
        const rand = seededRandom(deriveSeed(SEED, 2, i));
        const c = upgradeCase(rand, ctx);
        const label = `seed ${SEED} upgrade #${i}`;
        tally.upgrades++;
        const conn = new RawConnection(hub.port, c.address);
        if (!(await conn.ready)) {
          finding(`${label}: could not connect from ${c.address}`);
          continue;
        }
        const key = `upgrade#${i}/w${w}`;
        inFlight.set(key, show(c.bytes));
        let upgraded = false;
        try {
          await conn.write(c.bytes, rand);
          const res = await conn.next(false, ANSWER_MS);
          if (res === 'closed') tally.closedUnanswered++;
          else if (res === 'crashed') conn.destroy();
          else if (res === 'timeout') finding(`${label}: no answer within ${ANSWER_MS} ms to an upgrade request\n  input: ${show(c.bytes)}`);
          else if ('error' in res) finding(`${label}: unparsable response (${res.error}): ${show(conn.pending)}\n  input: ${show(c.bytes)}`);
          else {
            check(res, label, c.bytes);
            if (res.status === 101) {
              upgraded = true;
              tally.upgraded++;
              if (c.credential === false) finding(`${label}: WebSocket opened without a valid credential\n  input: ${show(c.bytes)}`);
              if (c.after === 'close-frame') conn.socket.end(CLOSE_FRAME);
              else if (c.after === 'garbage') conn.socket.end(Buffer.from(Array.from({ length: randomInt(rand, 1, 64) }, () => randomInt(rand, 0, 255))));
            } else if (/close/i.test(res.headers.get('connection') ?? '') && !(await conn.untilClosed(ANSWER_MS)) && !conn.closed) {
              finding(`${label}: refused upgrade with "Connection: close" left open for ${ANSWER_MS} ms\n  input: ${show(c.bytes)}`);
            }
          }
        } finally {
          inFlight.delete(key);
          if (upgraded && c.after !== 'destroy') await conn.untilClosed(2000);
          conn.destroy();
        }
      }
    }

    // --- (c) /ws/live messages ---------------------------------------------------------------
    let nextLive = 0;
    const liveUrl = hub.url.replace('http', 'ws') + '/ws/live';
    async function liveWorker(w: number): Promise<void> {
      let ws: WebSocket | null = null;
      let subscribed: ((echo: { devices?: unknown; channels?: unknown }) => void) | null = null;
      let closed: Promise<number> = Promise.resolve(1006);
      let sentOnThis = 0;
      for (;;) {
        if (nextLive >= LIVE_CASES) break;
        // fewer messages per connection than the hub's subscription burst (20, then 10/s; 4009 past it)
        if (ws && ws.readyState === WebSocket.OPEN && sentOnThis >= 15) {
          ws.close(1000);
          const code = await closed;
          count(liveCloses, code);
          if (!LIVE_CLOSE_OURS.has(code)) finding(`live: closing from this side ended with ${code}`);
        }
        if (!ws || ws.readyState !== WebSocket.OPEN) {
          sentOnThis = 0;
          tally.liveConnections++;
          const socket = new WebSocket(liveUrl, { headers: { authorization: `Bearer ${ctx.admin}` }, localAddress: LIVE_ADDRESS, perMessageDeflate: false });
          ws = socket;
          socket.on('error', () => undefined);
          socket.on('message', (data) => {
            try {
              const message = JSON.parse(data.toString()) as { type?: string; devices?: unknown; channels?: unknown };
              if (message.type === 'subscribed') subscribed?.(message);
            } catch {
              finding(`live: the hub sent something that is not JSON: ${show(data.toString())}`);
            }
          });
          closed = new Promise((resolve) => socket.on('close', (code) => resolve(code)));
          const opened = await new Promise<boolean>((resolve) => {
            socket.once('open', () => resolve(true));
            socket.once('close', () => resolve(false));
          });
          if (!opened) {
            finding(`live: an operator connection was refused (close ${await closed})`);
            await new Promise((r) => setTimeout(r, 200));
            continue;
          }
          if (nextLive >= LIVE_CASES) break;
        }
        const i = nextLive++;
        sentOnThis++;
        const rand = seededRandom(deriveSeed(SEED, 3, i));
        const c = liveCase(rand);
        const label = `seed ${SEED} live #${i}`;
        tally.liveMessages++;
        if (c.valid) tally.liveValid++;
        const key = `live#${i}/w${w}`;
        inFlight.set(key, `${c.binary ? 'binary ' : ''}${show(c.data)}`);
        const socket: WebSocket = ws;
        try {
          const answered = new Promise<'subscribed'>((resolve) => {
            subscribed = (echo) => {
              const sent = c.valid ? (JSON.parse(c.data as string) as { devices: unknown; channels?: unknown }) : undefined;
              if (sent && JSON.stringify([echo.devices, echo.channels]) !== JSON.stringify([sent.devices, sent.channels ?? null])) {
                finding(`${label}: "subscribed" does not repeat the subscription: ${show(JSON.stringify(echo))} for ${show(c.data)}`);
              }
              resolve('subscribed');
            };
          });
          if (c.fragments > 1 && typeof c.data === 'string') {
            const bytes = Buffer.from(c.data);
            for (let f = 0; f < c.fragments; f++) {
              const from = Math.floor((bytes.length * f) / c.fragments);
              socket.send(bytes.subarray(from, Math.floor((bytes.length * (f + 1)) / c.fragments)), { binary: false, fin: f === c.fragments - 1 });
            }
          } else {
            socket.send(c.data, { binary: c.binary });
          }
          const outcome = await firstOf<number | 'subscribed'>([answered, closed], ANSWER_MS);
          subscribed = null;
          if (outcome === 'crashed') {
            socket.terminate();
          } else if (outcome === 'timeout') {
            finding(`${label}: no answer within ${ANSWER_MS} ms to ${c.binary ? 'binary ' : ''}${show(c.data)}`);
            socket.terminate();
          } else if (outcome === 'subscribed') {
            if (!c.valid) finding(`${label}: not a valid subscription, yet answered "subscribed": ${c.binary ? 'binary ' : ''}${show(c.data)}`);
          } else {
            count(liveCloses, outcome);
            if (c.valid) finding(`${label}: a valid subscription closed the connection with ${outcome}: ${show(c.data)}`);
            else if (outcome !== 4000) finding(`${label}: closed with ${outcome}, not 4000, after ${c.binary ? 'binary ' : ''}${show(c.data)}`);
          }
          // sometimes this side ends the connection
          if (socket.readyState === WebSocket.OPEN && chance(rand, 0.03)) {
            if (chance(rand, 0.5)) socket.close(pick(rand, [1000, 1001]));
            else socket.terminate();
            const code = await closed;
            count(liveCloses, code);
            if (!LIVE_CLOSE_OURS.has(code)) finding(`${label}: closing from this side ended with ${code}`);
          }
        } finally {
          inFlight.delete(key);
        }
      }
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.close(1000);
        const code = await closed;
        count(liveCloses, code);
        if (!LIVE_CLOSE_OURS.has(code)) finding(`live: closing from this side ended with ${code}`);
      }
    }

    // --- requests left half-sent for the whole run, and a burst of wrong tokens from one address
    const stalled = Array.from({ length: STALLED }, (_, s) => {
      const rand = seededRandom(deriveSeed(SEED, 4, s));
      const c = httpCase(rand, ctx, Date.now());
      const conn = new RawConnection(hub.port, STALL_ADDRESS);
      const bytes = c.bytes.subarray(0, randomInt(rand, 1, Math.max(1, c.bytes.length - 1)));
      void conn.ready.then((ok) => ok && conn.socket.write(bytes));
      return { conn, bytes, label: `seed ${SEED} stalled #${s}` };
    });
    async function burst(): Promise<void> {
      for (let i = 0; i < 40; i++) {
        const conn = new RawConnection(hub.port, BURST_ADDRESS);
        if (!(await conn.ready)) continue;
        const endpoint = i % 2 === 0 ? '/ws/device' : '/ws/live';
        const bytes = Buffer.from(`GET ${endpoint} HTTP/1.1\r\nHost: ${ctx.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer wrong-${i}\r\n\r\n`);
        conn.socket.write(bytes);
        const res = await conn.next(false, ANSWER_MS);
        if (typeof res === 'object' && !('error' in res)) check(res, `burst #${i}`, bytes);
        else if (res === 'timeout') finding(`burst #${i}: no answer within ${ANSWER_MS} ms`);
        conn.destroy();
        const api = new RawConnection(hub.port, BURST_ADDRESS);
        if (!(await api.ready)) continue;
        const apiBytes = Buffer.from(`GET /api/devices HTTP/1.1\r\nHost: ${ctx.host}\r\nAuthorization: Bearer wrong-${i}\r\nConnection: close\r\n\r\n`);
        api.socket.write(apiBytes);
        const apiRes = await api.next(false, ANSWER_MS);
        if (typeof apiRes === 'object' && !('error' in apiRes)) check(apiRes, `burst api #${i}`, apiBytes);
        api.destroy();
      }
    }

    const progress = process.env.HTTP_FUZZ_PROGRESS
      ? setInterval(() => console.error(`progress ${Date.now() - started} ms: http ${nextHttp} upgrade ${nextUpgrade} live ${nextLive} crashes ${crashSignal.count} findings ${findings.length} inflight ${[...inFlight.keys()].join(',')}`), 2000)
      : undefined;
    try {
      await Promise.all([
        ...Array.from({ length: HTTP_WORKERS }, (_, w) => httpWorker(w)),
        ...Array.from({ length: UPGRADE_WORKERS }, (_, w) => upgradeWorker(w)),
        ...Array.from({ length: LIVE_WORKERS }, (_, w) => liveWorker(w)),
        burst(),
      ]);
      for (const s of stalled) {
        const res = await s.conn.next(false, 0);
        if (typeof res === 'object' && !('error' in res)) check(res, s.label, s.bytes);
        s.conn.destroy();
      }
    } finally {
      clearInterval(stream);
      clearInterval(progress);
    }
    const fuzzMs = Date.now() - started;

    // the hub let go of every socket: live clients, fuzzed device sessions, file descriptors
    const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await hub.api('/metrics')).text())?.[1]);
    await waitFor(async () => (await metric('hub_live_clients')) === 0, 'no live clients left', 15_000);
    await waitFor(async () => (await metric('hub_devices_connected')) === 1, 'only the good device connected', 15_000);
    const fdsAfter = await waitFor(() => { const n = openFds(); return n <= fdsBefore + 10 ? n : 0; }, `open file descriptors back near ${fdsBefore} (now ${openFds()})`, 15_000);

    const heapAtEnd = heapNow();
    const rssAtEnd = process.memoryUsage().rss;

    await good.waitAcked(undefined, 30_000);
    expect(good.connected, 'the good device stayed connected').toBe(true);
    const res = await hub.api(`/api/devices/${GOOD_ID}/readings?channel=count&from=${t0}&to=${t0 + 3_600_000}`);
    const values = ((await res.json()) as { points: { value: number }[] }).points.map((p) => p.value);
    expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);

    stopListening();
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    console.info(
      `http fuzz: ${tally.requests} raw requests (${tally.cut} cut off, ${tally.ended} half-closed), ${tally.upgrades} upgrade requests (${tally.upgraded} upgraded), ` +
        `${tally.liveMessages} live messages (${tally.liveValid} valid) on ${tally.liveConnections} connections, ${STALLED} stalled requests, 80 burst requests; ` +
        `${tally.answers} answers, ${tally.closedUnanswered} closed without an answer, ${tally.nonJsonErrors} non-JSON error bodies; ` +
        `statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; live closes ${JSON.stringify(Object.fromEntries(liveCloses))}; ` +
        `heap ${mib(heapAtWarmup)} → ${mib(heapAtEnd)}${gc ? ' (after GC)' : ''}, RSS ${mib(rssAtWarmup)} → ${mib(rssAtEnd)}, fds ${fdsBefore} → ${fdsAfter}; ` +
        `${goodSent} good readings; fuzzing took ${fuzzMs} ms`,
    );

    if (process.env.HTTP_FUZZ_PROGRESS) for (const [status, sample] of [...samples].sort((a, b) => a[0] - b[0])) console.error(`SAMPLE ${status} ${sample.slice(0, 1500)}`);
    const crashReport = [...crashes.values()].map((c) => `${c.count}× ${c.report}`);
    expect(crashReport, `the hub threw (seed ${SEED}):\n${crashReport.slice(0, 5).join('\n\n')}`).toEqual([]);
    expect(findings, `seed ${SEED}:\n${findings.join('\n\n')}`).toEqual([]);
    expect(values, 'every reading of the good device stored once, in order').toEqual(Array.from({ length: goodSent }, (_, i) => i));
    expect([...statuses.keys()]).toEqual(expect.arrayContaining([101, 200, 204, 304, 400, 401, 403, 404, 429, 431]));
    expect([...liveCloses.keys()]).toContain(4000);
    // memory stays flat: no residue per request (bounds leave room for GC timing without a forced GC)
    if (gc) expect(heapAtEnd - heapAtWarmup, 'heap growth after GC').toBeLessThan(24 * 1024 * 1024);
    else expect(rssAtEnd - rssAtWarmup, 'RSS growth').toBeLessThan(50 * 1024 * 1024);
  }, 180_000);
});
