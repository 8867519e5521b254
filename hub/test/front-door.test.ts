// The hub's front door against hostile and careless clients, over real TCP: requests that used to
// kill the process, bodies and headers that used to grow its memory, connections that never finish,
// and failure throttling that must never lock out a good device or the operator.
import { connect, type Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';

interface RawAnswer {
  /** status from the answer's status line, or null when the hub closed without answering */
  status: number | null;
  text: string;
}

/** Writes `request` on a fresh connection and collects what comes back until the hub closes it. */
function rawRequest(hub: TestHub, request: string | Buffer, localAddress = '127.0.0.1'): Promise<RawAnswer> {
  const { port } = new URL(hub.url);
  return new Promise((resolve) => {
    const socket = connect({ port: Number(port), host: '127.0.0.1', localAddress });
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]) || null, text }));
    socket.write(request);
  });
}

function upgradeRequest(path: string, headers: Record<string, string> = {}): string {
  const lines = Object.entries({
    Host: 'hub.test', Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13', ...headers,
  }).map(([k, v]) => `${k}: ${v}\r\n`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

async function stillServing(hub: TestHub): Promise<void> {
  const res = await hub.api('/api/devices');
  expect(res.status).toBe(200);
}

function errorCode(answer: RawAnswer): string | undefined {
  const body = answer.text.slice(answer.text.indexOf('\r\n\r\n') + 4);
  try {
    return JSON.parse(body).error.code;
  } catch {
    return undefined;
  }
}

describe('front door: requests that must not kill the hub', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub();
  });
  afterAll(() => hub?.stop());

  it('answers an upgrade whose request target is not a URL (`GET //[`) with 400', async () => {
    for (const target of ['//[', '//[::1', '//%', '//a:b@[x]/ws/live', 'http://[/ws/device', '*']) {
      const answer = await rawRequest(hub, upgradeRequest(target));
      expect([400, 404], target).toContain(answer.status);
    }
    await stillServing(hub);
  });

  it('answers a malformed `hub_token` or `hub_session` cookie with 401 on /ws/live and /api, also beside another port\'s cookies', async () => {
    for (const cookie of ['hub_token=%', 'hub_session=%', 'hub_session=%E0%A4%A', 'hub_session=; hub_session=%zz; hub_token=%', 'a=%; hub_session']) {
      const live = await rawRequest(hub, upgradeRequest('/ws/live', { Cookie: cookie }));
      expect(live.status, cookie).toBe(401);
      expect(errorCode(live)).toBe('HUB_ERR_UNAUTHORIZED');
      const api = await fetch(`${hub.url}/api/devices`, { headers: { cookie } });
      expect(api.status, cookie).toBe(401);
    }
    await stillServing(hub);
  });

  it('answers targets and Hosts no URL can be built from with 400, bad handshakes with JSON 400, and ignores an unknown Expect', async () => {
    const { port } = new URL(hub.url);
    for (const request of [
      `GET http://u:p@x/healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
      'GET /healthz HTTP/1.1\r\nHost: 1.2.3.4.5\r\n\r\n',
      'POST /login HTTP/1.1\r\nHost: 1.2.3.4.5\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
    ]) {
      const answer = await rawRequest(hub, request);
      expect(answer.status, request).toBe(400);
      expect(errorCode(answer)).toBe('HUB_ERR_BAD_REQUEST');
    }
    for (const headers of [{ 'Sec-WebSocket-Version': '8' }, { Upgrade: 'h2c' }, { 'Sec-WebSocket-Key': 'short' }] as Record<string, string>[]) {
      const answer = await rawRequest(hub, upgradeRequest('/ws/live', { Authorization: `Bearer ${hub.adminToken}`, ...headers }));
      expect(answer.status, JSON.stringify(headers)).toBe(400);
      expect(errorCode(answer)).toBe('HUB_ERR_BAD_REQUEST');
    }
    const options = await rawRequest(hub, upgradeRequest('/ws/live', { Authorization: `Bearer ${hub.adminToken}` }).replace(/^GET/, 'OPTIONS'));
    expect(options.status).toBe(400);
    expect(errorCode(options)).toBe('HUB_ERR_BAD_REQUEST');
    // HTTP/1.0 may leave Host out, as load balancers' health checks do; HTTP/1.1 may not
    expect((await rawRequest(hub, 'GET /healthz HTTP/1.0\r\n\r\n')).status).toBe(200);
    expect((await rawRequest(hub, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n')).status).toBe(400);
    const expectation = await rawRequest(hub, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nExpect: 10-continue\r\nConnection: close\r\n\r\n`);
    expect(expectation.status).toBe(200);
    await stillServing(hub);
  });

  it('gives a client that closes its sending side after its request the whole answer, compressed or not', async () => {
    for (const i of [1, 2, 3]) await hub.provision(`half-${i}`);
    const { port } = new URL(hub.url);
    for (const encoding of ['gzip', 'identity']) {
      const raw = await new Promise<Buffer>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1');
        const chunks: Buffer[] = [];
        socket.on('data', (d) => chunks.push(d));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(Buffer.concat(chunks)));
        socket.end(`GET /api/devices HTTP/1.1\r\nHost: hub.test\r\nAuthorization: Bearer ${hub.adminToken}\r\nAccept-Encoding: ${encoding}\r\n\r\n`);
      });
      const head = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('latin1');
      expect(head, encoding).toMatch(/^HTTP\/1\.1 200/);
      let body = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
      if (/transfer-encoding: chunked/i.test(head)) {
        const parts: Buffer[] = [];
        for (let at = 0; ; ) {
          const eol = body.indexOf('\r\n', at);
          const size = eol < 0 ? NaN : parseInt(body.subarray(at, eol).toString('latin1'), 16);
          // the last chunk, or an answer cut short (its JSON will not parse)
          if (!(size > 0) || eol + 2 + size > body.length) break;
          parts.push(body.subarray(eol + 2, eol + 2 + size));
          at = eol + 2 + size + 2;
        }
        body = Buffer.concat(parts);
      }
      if (/content-encoding: gzip/i.test(head)) body = gunzipSync(body);
      const ids = (JSON.parse(body.toString('utf8')) as { id: string }[]).map((d) => d.id);
      expect(ids).toEqual(expect.arrayContaining(['half-1', 'half-2', 'half-3']));
    }
  });

  it('does not count a handshake that ws refuses (no key) as an open connection', async () => {
    const small = await startTestHub({ maxConnectionsPerIp: 3 });
    try {
      const token = await small.provision('nokey-1');
      for (let i = 0; i < 6; i++) {
        const answer = await rawRequest(small, upgradeRequest('/ws/device', { Authorization: `Bearer ${token}`, 'Sec-WebSocket-Key': '' }));
        expect(answer.status).toBe(400);
      }
      const device = small.device('nokey-1', token);
      await device.connect();
      expect(device.connected).toBe(true);
    } finally {
      await small.stop();
    }
  });
});

describe('front door: bounded before authenticated', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ maxHttpConnectionsPerIp: 20, headersTimeoutMs: 1000, requestTimeoutMs: 2000, upgradeTimeoutMs: 1000 });
  });
  afterAll(() => hub?.stop());

  it('refuses a body larger than its route takes with 413 from its declared length, and closes the connection', async () => {
    const answer = await rawRequest(hub, 'POST /login HTTP/1.1\r\nHost: hub.test\r\nContent-Type: application/json\r\nContent-Length: 2000000000\r\n\r\n{"token":"');
    expect(answer.status).toBe(413);
    expect(errorCode(answer)).toBe('HUB_ERR_TOO_LARGE');
  });

  it('refuses a chunked body once it passes the limit, before it is read to its end', async () => {
    const { port } = new URL(hub.url);
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d));
    socket.on('error', () => undefined);
    socket.write('POST /api/devices HTTP/1.1\r\nHost: hub.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    // 64 KiB of a body that never ends (no last chunk): an answer can only come from counting it
    const chunk = Buffer.from(`400\r\n${' '.repeat(1024)}\r\n`);
    for (let i = 0; i < 64; i++) socket.write(chunk);
    await waitFor(() => text.includes('\r\n\r\n'), '413 answer');
    expect(text).toMatch(/^HTTP\/1\.1 413/);
    socket.destroy();
  });

  it('answers headers larger than 16 KiB with 431', async () => {
    const answer = await rawRequest(hub, `GET /healthz HTTP/1.1\r\nHost: hub.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(answer.status).toBe(431);
  });

  it('bounds unfinished requests and upgrades per address and times them out, while other addresses are served', async () => {
    const { port } = new URL(hub.url);
    const sockets: Socket[] = [];
    const closed: boolean[] = [];
    for (let i = 0; i < 40; i++) {
      const socket = connect(Number(port), '127.0.0.1');
      const index = i;
      closed[index] = false;
      socket.on('error', () => undefined);
      socket.on('close', () => (closed[index] = true));
      socket.resume(); // read the 408, or 'close' never comes
      // half a request: headers never finish (every other one an upgrade)
      socket.write(i % 2 ? 'GET /healthz HTTP/1.1\r\nHost: hub.test\r\n' : 'GET /ws/live HTTP/1.1\r\nHost: hub.test\r\nUpgrade: websocket\r\n');
      sockets.push(socket);
    }
    // past the per-address bound the hub drops connections at once...
    await waitFor(() => closed.filter(Boolean).length >= 20, 'connections past the per-address bound dropped');
    // ...while another address gets answers
    const other = await rawRequest(hub, 'GET /healthz HTTP/1.1\r\nHost: hub.test\r\nConnection: close\r\n\r\n', '127.0.0.2');
    expect(other.status).toBe(200);
    // and every unfinished one is closed by the headers timeout
    await waitFor(() => closed.every(Boolean), 'unfinished requests timed out', 15_000);
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(/hub_rejected_total\{code="HUB_ERR_TOO_MANY_CONNECTIONS"\} (\d+)/);
    for (const s of sockets) s.destroy();
  });
});

describe('front door: failures are throttled, good tokens are not', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ maxAuthFailures: 10 });
  });
  afterAll(() => hub?.stop());

  it('a burst of bad tokens from one address does not lock out a good device or the operator there', async () => {
    const token = await hub.provision('nat-good');
    const answers: (number | null)[] = [];
    for (let i = 0; i < 40; i++) answers.push((await rawRequest(hub, upgradeRequest('/ws/device', { Authorization: `Bearer bad-token-${i}` }))).status);
    expect(answers.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(answers.slice(10).every((s) => s === 429)).toBe(true);
    // wrong operator tokens from the same address are throttled too
    expect((await fetch(`${hub.url}/api/devices`, { headers: { authorization: 'Bearer wrong-operator-token' } })).status).toBe(429);
    const login = await fetch(`${hub.url}/login`, { method: 'POST', body: JSON.stringify({ token: 'wrong' }), headers: { 'content-type': 'application/json' } });
    expect(login.status).toBe(429);
    expect((await login.json()).error.code).toBe('HUB_ERR_TOO_MANY_ATTEMPTS');

    // the good device behind the same address connects and streams
    const device = hub.device('nat-good', token);
    await device.connect();
    device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: 7 }], Date.now() - 1000);
    await device.waitAcked();
    // and so does the operator: REST, login and the live channel
    await stillServing(hub);
    const good = await fetch(`${hub.url}/login`, { method: 'POST', body: JSON.stringify({ token: hub.adminToken }), headers: { 'content-type': 'application/json' } });
    expect(good.status).toBe(204);
    const live = new WebSocket(hub.url.replace('http', 'ws') + '/ws/live', { headers: { authorization: `Bearer ${hub.adminToken}` } });
    await new Promise<void>((resolve, reject) => {
      live.once('open', () => resolve());
      live.once('unexpected-response', (_req, res) => reject(new Error(`live refused: ${res.statusCode}`)));
    });
    live.close();
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(/hub_rejected_total\{code="HUB_ERR_TOO_MANY_ATTEMPTS"\} \d+/);
  });
});
