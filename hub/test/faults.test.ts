// Faults under streaming devices with store-and-forward: the hub killed with SIGKILL and
// restarted, and a data dir that fills up or turns read-only. Nothing acknowledged is lost,
// nothing is stored twice, and the database stays sound.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DeviceClient } from '../../device-sim/src/device-client.ts';
import { startTestHub, TEST_CHANNELS, waitFor, type TestHub } from './support/hub-fixture.ts';
import { freePort } from './support/real-parts.ts';

const root = new URL('../..', import.meta.url).pathname;

/** Keeps a device connected: reconnects (and so resends what is unacknowledged) whenever it drops. */
function keepConnected(device: DeviceClient): () => void {
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      if (!device.connected) await device.connect().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  void loop();
  return () => {
    stopped = true;
  };
}

function stream(devices: DeviceClient[], t0: number): { sent: Map<string, number>; stop(): void } {
  const sent = new Map<string, number>();
  let n = 0;
  const timer = setInterval(() => {
    for (const d of devices) {
      d.sendReadings(Array.from({ length: 10 }, (_, i) => ({ channel: 3, type: 'i32' as const, offset: i, value: n * 10 + i })), t0 + n * 10);
      sent.set(d.options.deviceId, (sent.get(d.options.deviceId) ?? 0) + 10);
    }
    n++;
  }, 10);
  return { sent, stop: () => clearInterval(timer) };
}

async function storedValues(url: string, token: string, deviceId: string, t0: number): Promise<number[]> {
  const res = await fetch(`${url}/api/devices/${deviceId}/readings?channel=count&from=${t0}&to=${t0 + 3_600_000}`, { headers: { authorization: `Bearer ${token}` } });
  return ((await res.json()).points as { value: number }[]).map((p) => p.value);
}

describe('hub killed with SIGKILL mid-stream', () => {
  const OPERATOR_TOKEN = 'operator-token-for-tests';
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-kill-'));
  let child: ChildProcess | null = null;
  afterAll(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function start(port: number): Promise<void> {
    child = spawn(process.execPath, ['--import', 'tsx', 'hub/src/main.ts'], {
      cwd: root, stdio: 'ignore',
      env: { ...process.env, HUB_HOST: '127.0.0.1', HUB_PORT: String(port), HUB_DATA_DIR: dataDir, HUB_ADMIN_TOKEN: OPERATOR_TOKEN, HUB_LOG_LEVEL: 'warn' },
    });
    await waitFor(() => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false), 'hub up', 20_000);
  }

  it('loses nothing and duplicates nothing when devices resend after the restart', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    await start(port);
    const devices = await Promise.all(['kill-1', 'kill-2'].map(async (id) => {
      const res = await fetch(`${url}/api/devices`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
      return new DeviceClient({ hubUrl: url, deviceId: id, token: (await res.json()).token, channels: TEST_CHANNELS, session: 42 });
    }));
    const stops = devices.map(keepConnected);
    await waitFor(() => devices.every((d) => d.connected), 'devices connected');
    const t0 = Date.now() - 600_000;
    const load = stream(devices, t0);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      // killed mid-stream means with readings already acknowledged, whatever the machine's speed
      await waitFor(() => devices.every((d) => d.stats.acked > 0), 'readings acknowledged before the kill', 15_000);
      child!.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      await new Promise((r) => setTimeout(r, 500)); // devices keep their readings meanwhile
      await start(port);
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      load.stop();
    }
    await Promise.all(devices.map((d) => d.waitAcked(undefined, 20_000)));
    stops.forEach((stop) => stop());
    for (const d of devices) {
      const values = await storedValues(url, OPERATOR_TOKEN, d.options.deviceId, t0);
      expect(values.length, d.options.deviceId).toBe(load.sent.get(d.options.deviceId));
      expect(new Set(values).size).toBe(values.length);
      await d.close();
    }
    child!.kill('SIGTERM');
  }, 60_000);
});

/** Whether this machine allows a root-only fault; prints why the tests are skipped if not. */
function canDo(probe: () => void, skipReason: string): boolean {
  try {
    probe();
    return true;
  } catch {
    console.warn(`skipping: ${skipReason}`);
    return false;
  }
}

function canMountTmpfs(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'mount-probe-'));
  try {
    return canDo(() => {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
      execFileSync('umount', [probe], { stdio: 'ignore' });
    }, 'the full-disk test: mounting a small tmpfs needs root');
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

function canMakeImmutable(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'chattr-probe-'));
  try {
    return canDo(() => {
      writeFileSync(join(dir, 'f'), '');
      execFileSync('chattr', ['+i', join(dir, 'f')], { stdio: 'ignore' });
      execFileSync('chattr', ['-i', join(dir, 'f')], { stdio: 'ignore' });
    }, 'the read-only data dir test: chattr +i needs root and a file system that supports it');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A streaming device while the store breaks and is mended: the device must be told to retry
 * (FP_ERR_STORE_UNAVAILABLE), keep its readings, and have every one stored exactly once after.
 */
async function streamThroughStoreFault(hub: TestHub, deviceId: string, fault: { breakStore(): void; mendStore(): void }): Promise<void> {
  const device = hub.device(deviceId, await hub.provision(deviceId), { session: 7 });
  const codes: number[] = [];
  device.on('hub-error', (code) => codes.push(code));
  await device.connect();
  const stop = keepConnected(device);
  const t0 = Date.now() - 600_000;
  const load = stream([device], t0);
  try {
    // The store opens its files on its first write (on its own thread): break it only once the
    // hub has acknowledged readings, i.e. once they are durable in a store that works.
    await waitFor(() => device.stats.acked > 0, 'the first readings stored', 15_000);
    fault.breakStore();
    await waitFor(() => codes.includes(29), 'FP_ERR_STORE_UNAVAILABLE sent to the device', 15_000);
    fault.mendStore();
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    load.stop();
  }
  await device.waitAcked(undefined, 20_000);
  stop();
  const values = await storedValues(hub.url, hub.adminToken, deviceId, t0);
  expect(values.length).toBe(load.sent.get(deviceId));
  expect(new Set(values).size).toBe(values.length);
}

async function expectSoundDatabase(hub: TestHub, dataDir: string): Promise<void> {
  await hub.stop();
  const db = new Database(join(dataDir, 'readings.db'), { readonly: true });
  expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  db.close();
}

describe.runIf(canMountTmpfs())('data dir on a full disk', () => {
  let mountPoint = '';
  let hub: TestHub | null = null;
  afterEach(async () => {
    await hub?.stop().catch(() => undefined);
    hub = null;
    try { execFileSync('umount', [mountPoint], { stdio: 'ignore' }); } catch { /* not mounted */ }
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('full disk: devices are told to retry, keep their readings, and nothing is lost once space is back', async () => {
    mountPoint = mkdtempSync(join(tmpdir(), 'hub-disk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${4 * 1024 * 1024}`, 'tmpfs', mountPoint]);
    const dataDir = join(mountPoint, 'data');
    mkdirSync(dataDir);
    hub = await startTestHub({ dataDir, keepDataDir: true });
    const filler = join(mountPoint, 'filler');
    await streamThroughStoreFault(hub, 'disk-1', {
      breakStore: () => {
        try { writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024)); } catch { /* ENOSPC: full now */ }
      },
      mendStore: () => rmSync(filler),
    });
    const metrics = await (await fetch(hub.url + '/metrics')).text();
    expect(metrics).toMatch(/hub_store_write_failures_total [1-9]/);
    await expectSoundDatabase(hub, dataDir);
  }, 60_000);
});

// The store's files turn unwritable under the running hub (immutable, so even root cannot write):
// what a disk remounted read-only looks like to a process that holds its files open.
describe.runIf(canMakeImmutable())('data dir turning read-only', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-ro-'));
  // Not the -shm index: SQLite maps it into memory, and a mapped page that cannot be written is a
  // SIGBUS no process survives (a real disk cannot be remounted read-only under it either).
  const files = ['readings.db', 'readings.db-wal'].map((f) => join(dataDir, f));
  let hub: TestHub | null = null;
  afterAll(async () => {
    for (const f of files) try { execFileSync('chattr', ['-i', f], { stdio: 'ignore' }); } catch { /* gone */ }
    await hub?.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('devices are told to retry and nothing is lost once it is writable again', async () => {
    hub = await startTestHub({ dataDir, keepDataDir: true });
    await streamThroughStoreFault(hub, 'ro-1', {
      breakStore: () => { for (const f of files) execFileSync('chattr', ['+i', f]); },
      mendStore: () => { for (const f of files) execFileSync('chattr', ['-i', f]); },
    });
    await expectSoundDatabase(hub, dataDir);
  }, 60_000);
});
