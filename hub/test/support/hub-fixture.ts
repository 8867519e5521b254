// Starts a real hub on 127.0.0.1:0 with a temporary data dir, for integration tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { HubOptions } from '../../src/config.ts';
import { startHub, type Hub, type HubParts } from '../../src/start-hub.ts';
import type { ChannelDescriptor } from '../../src/protocol/index.ts';
import { DeviceClient, type DeviceClientOptions } from '../../../device-sim/src/device-client.ts';

export interface TestHub extends Hub {
  dataDir: string;
  api(path: string, init?: RequestInit): Promise<Response>;
  provision(id: string): Promise<string>;
  device(id: string, token: string, extra?: Partial<DeviceClientOptions>): DeviceClient;
  /** closes the hub and removes its data dir */
  stop(): Promise<void>;
}

export const TEST_CHANNELS: ChannelDescriptor[] = [
  { id: 1, type: 'f32', name: 'temperature', unit: '°C' },
  { id: 2, type: 'f64', name: 'humidity', unit: '%' },
  { id: 3, type: 'i32', name: 'count', unit: '' },
  { id: 4, type: 'bool', name: 'door', unit: '' },
];

export async function startTestHub(options: Partial<HubOptions> & HubParts & { dataDir?: string; keepDataDir?: boolean } = {}): Promise<TestHub> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'hub-test-'));
  const hub = await startHub({
    port: 0, host: '127.0.0.1', adminToken: 'test-admin-token', flushIntervalMs: 5,
    log: pino({ level: process.env.TEST_HUB_LOG ?? 'silent' }),
    ...options, dataDir,
  });
  const clients: DeviceClient[] = [];
  const api = (path: string, init: RequestInit = {}) =>
    fetch(hub.url + path, { ...init, headers: { authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/json', ...init.headers } });
  return {
    ...hub,
    dataDir,
    api,
    async provision(id) {
      const res = await api('/api/devices', { method: 'POST', body: JSON.stringify({ id }) });
      if (res.status !== 201) throw new Error(`provision ${id}: HTTP ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    device(id, token, extra = {}) {
      const client = new DeviceClient({ hubUrl: hub.url, deviceId: id, token, channels: TEST_CHANNELS, ...extra });
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await hub.close();
      if (!options.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a truthy value (tests wait on conditions, never on fixed delays). */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
