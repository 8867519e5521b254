// Optional TLS: with a certificate the hub serves https and wss on its one port.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodeFrame, encodeFrame, type Frame } from '../src/protocol/index.ts';
import { startTestHub, TEST_CHANNELS, waitFor, type TestHub } from './support/hub-fixture.ts';
import { hasRealPart } from './support/real-parts.ts';

describe.runIf(hasRealPart('openssl'))('TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hub-tls-'));
  let hub: TestHub;
  let ca: Buffer;
  beforeAll(async () => {
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    ca = readFileSync(certFile);
    hub = await startTestHub({ tls: { certFile, keyFile } });
  });
  afterAll(async () => {
    await hub?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function get(path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      request(hub.url + path, { ca }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject).end();
    });
  }

  it('serves the API over https and devices over wss', async () => {
    expect(hub.url).toMatch(/^https:/);
    expect((await get('/healthz')).status).toBe(200);
    const token = await new Promise<string>((resolve, reject) => {
      const req = request(hub.url + '/api/devices', { method: 'POST', ca, headers: { authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/json' } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(JSON.parse(body).token));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ id: 'tls-1' }));
    });
    const ws = new WebSocket(hub.url.replace('https', 'wss') + '/ws/device', { ca, headers: { authorization: `Bearer ${token}` } });
    const frames: Frame[] = [];
    ws.on('message', (data: Buffer) => frames.push(decodeFrame(data)));
    await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
    ws.send(encodeFrame({ type: 'hello', session: 9, deviceId: 'tls-1', firmware: 'x', channels: TEST_CHANNELS }));
    ws.send(encodeFrame({ type: 'readings', seq: 1, samples: [{ channel: 3, type: 'i32', offset: 0, value: 7 }] }));
    await waitFor(() => frames.some((f) => f.type === 'ack' && f.ackedSeq === 1), 'ACK over wss');
    ws.close();
  });

  it('marks the dashboard session cookie Secure', async () => {
    const setCookie = await new Promise<string>((resolve, reject) => {
      const req = request(hub.url + '/login', { method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(String(res.headers['set-cookie']));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ token: hub.adminToken }));
    });
    expect(setCookie).toMatch(/^hub_session=[^;]+;.*HttpOnly.*; Secure$/);
  });

  it('refuses plain http on the TLS port', async () => {
    await expect(fetch(hub.url.replace('https', 'http') + '/healthz')).rejects.toThrow();
  });
});
