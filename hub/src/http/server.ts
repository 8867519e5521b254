// The hub's one listening socket: HTTP for the Hono app, WebSocket upgrades routed by path. What
// reaches it before any token is checked is bounded here: header size, time to send headers and a
// request, unfinished upgrades, and connections per address that have not become WebSockets.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type RequestListener, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import { rejectUpgrade } from '../transports/reject-upgrade.ts';
import { HttpError, type HubErrorName } from './http-error.ts';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => Promise<void>;

export interface HubServerOptions {
  fetch: (request: Request, env: unknown) => Response | Promise<Response>;
  tls?: { certFile: string; keyFile: string };
  /** WebSocket endpoints by path */
  upgrades: Record<string, UpgradeHandler>;
  log: Logger;
  metrics: Metrics;
  /** open connections from one address that are not (yet) WebSockets; more are dropped at accept */
  maxHttpConnectionsPerIp: number;
  /** time a client has to send a request's headers (408 after) */
  headersTimeoutMs: number;
  /** time a client has to send a whole request, body included (408 after) */
  requestTimeoutMs: number;
  /** time from an upgrade request's headers to an open WebSocket or an answer */
  upgradeTimeoutMs: number;
}

/** Node's default, stated so the README's number stays true: larger headers get 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Whether a request's target and Host make a URL a `Request` can be built from. The adapter only
 * builds the full `Request` when a handler reads the body, and then a target with credentials
 * (`http://u:p@x/`) or a Host WHATWG refuses (`1.2.3.4.5`) would throw inside the app (500).
 */
export function acceptableTarget(req: IncomingMessage): boolean {
  const target = req.url ?? '';
  try {
    const url = /^https?:\/\//i.test(target) ? new URL(target) : target.startsWith('/') ? new URL(`http://${req.headers.host ?? 'hub'}${target}`) : null;
    return url !== null && !url.username && !url.password;
  } catch {
    return false;
  }
}

function answerBadRequest(res: ServerResponse, message: string): void {
  const error = new HttpError('HUB_ERR_BAD_REQUEST', message);
  const body = JSON.stringify(error.toJSON());
  res.writeHead(error.status, STATUS_CODES[error.status], { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

/** The request target as a URL, or undefined when it is not one (e.g. `//[`). */
export function requestUrl(target: string | undefined): URL | undefined {
  try {
    // Prefixing keeps `//host/...` a path, as the request line meant it, not a protocol-relative URL.
    return new URL(target?.startsWith('/') ? `http://hub${target}` : (target ?? ''));
  } catch {
    return undefined;
  }
}

/**
 * What is wrong with a WebSocket handshake (RFC 6455 §4.2.1), checked before any token so every
 * refusal has the API's JSON shape (ws would answer its own text/html 400 or 405).
 */
function badHandshake(req: IncomingMessage): string | null {
  if (req.method !== 'GET') return 'a WebSocket handshake is a GET';
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return 'Upgrade: websocket expected';
  if (!/^[+/0-9A-Za-z]{22}==$/.test(req.headers['sec-websocket-key'] ?? '')) return 'missing or invalid Sec-WebSocket-Key';
  if (req.headers['sec-websocket-version'] !== '13') return 'Sec-WebSocket-Version: 13 expected';
  return null;
}

export function createHubServer(options: HubServerOptions): Server {
  const { log, metrics } = options;
  const countRejected = (code: HubErrorName) => metrics.rejected.inc({ code });
  const serverOptions: ServerOptions = {
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    // Node checks the two timeouts above this often (30 s by default, which would triple them).
    connectionsCheckingInterval: Math.min(1000, options.headersTimeoutMs),
  };
  // Requests whose URL the app could not even build are answered here, as 400.
  const guarded = (listener: RequestListener): RequestListener => (req, res) => {
    // HTTP/1.0 may leave Host out (load balancers' health checks do); HTTP/1.1 may not
    if (req.headers.host === undefined && req.httpVersion === '1.0') {
      const address = req.socket.localAddress ?? '127.0.0.1';
      req.headers.host = `${address.includes(':') ? `[${address}]` : address}:${req.socket.localPort}`;
    }
    if (acceptableTarget(req)) listener(req, res);
    else answerBadRequest(res, 'not a valid request target or Host');
  };
  const listener = guarded(getRequestListener(options.fetch));
  const server: Server = options.tls
    ? createHttpsServer({ ...serverOptions, handshakeTimeout: options.headersTimeoutMs, cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) }, listener)
    : createHttpServer(serverOptions, listener);
  // A client may close its sending side once its request is out (a half-close); it still gets its
  // whole answer, streamed or compressed, before the hub closes the connection. (Node's default ends
  // the socket at once, cutting an answer still being written.)
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // An `Expect` the hub does not know is ignored (RFC 9110 allows it) rather than answered 417.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => server.emit('request', req, res));

  const httpConnections = new Map<string, number>();
  const counted = new WeakSet<Socket>();
  function uncount(socket: Socket): void {
    if (!counted.delete(socket)) return;
    const ip = socket.remoteAddress ?? 'unknown';
    const left = (httpConnections.get(ip) ?? 1) - 1;
    if (left > 0) httpConnections.set(ip, left);
    else httpConnections.delete(ip);
  }
  // With TLS the count starts once the handshake is done (the socket a request arrives on);
  // handshakes themselves are bounded in time by handshakeTimeout.
  server.prependListener(options.tls ? 'secureConnection' : 'connection', function onConnection(socket: Socket) {
    const ip = socket.remoteAddress ?? 'unknown';
    const open = httpConnections.get(ip) ?? 0;
    if (open >= options.maxHttpConnectionsPerIp) {
      countRejected('HUB_ERR_TOO_MANY_CONNECTIONS');
      socket.destroy();
      return;
    }
    httpConnections.set(ip, open + 1);
    counted.add(socket);
    socket.on('close', uncountOnClose);
  });
  // Listeners shared by every connection (they read the socket from `this`): a closure per
  // connection would keep the upgrade's whole scope, its timer included, alive for as long as the
  // WebSocket lives — about half a KiB per idle device at 10k.
  function uncountOnClose(this: Socket): void {
    uncount(this);
  }

  server.on('upgrade', function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    // From here the WebSocket endpoints count this connection (once it is open), not the HTTP limit.
    uncount(socket as Socket);
    socket.on('error', destroyOnError);
    let timer: NodeJS.Timeout | null = setTimeout(() => {
      countRejected('HUB_ERR_UPGRADE_TIMEOUT');
      socket.destroy();
    }, options.upgradeTimeoutMs);
    timer.unref();
    const done = () => {
      if (timer) clearTimeout(timer);
      timer = null;
    };
    try {
      const url = requestUrl(req.url);
      if (!url) return void (done(), rejectUpgrade(socket, 'HUB_ERR_BAD_REQUEST', 'not a valid request target'));
      const handshakeProblem = badHandshake(req);
      if (handshakeProblem) return void (done(), rejectUpgrade(socket, 'HUB_ERR_BAD_REQUEST', handshakeProblem));
      const handler = Object.hasOwn(options.upgrades, url.pathname) ? options.upgrades[url.pathname] : undefined;
      if (!handler) return void (done(), rejectUpgrade(socket, 'HUB_ERR_NOT_FOUND', 'no WebSocket endpoint at this path'));
      handler(req, socket, head, url).then(done, (err) => {
        done();
        upgradeFailed(err, socket);
      });
    } catch (err) {
      done();
      upgradeFailed(err, socket);
    }
  });

  function destroyOnError(this: Duplex): void {
    this.destroy();
  }

  function upgradeFailed(err: unknown, socket: Duplex): void {
    log.error({ err }, 'upgrade failed');
    countRejected('HUB_ERR_INTERNAL');
    rejectUpgrade(socket, 'HUB_ERR_INTERNAL', 'internal error');
  }

  return server;
}
