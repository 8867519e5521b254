// `npm start` as users run it: the real entry point in its own process, embedded store, signals.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeviceClient } from '../../device-sim/src/device-client.ts';
import { TEST_CHANNELS } from '../src/test-support/hub-fixture.ts';

const root = new URL('../..', import.meta.url).pathname;

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function startMain(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'hub/src/main.ts'], {
    cwd: root, env: { ...process.env, HUB_HOST: '127.0.0.1', HUB_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const deadline = Date.now() + 20_000;
  let port: number | undefined;
  while (!port) {
    const line = output.split('\n').find((l) => l.includes('"hub listening"'));
    if (line) port = JSON.parse(line).port;
    else if (Date.now() > deadline || child.exitCode !== null) throw new Error(`hub did not start:\n${output}`);
    else await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}

describe('hub process (npm start)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-main-'));
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts on the embedded store, prints the operator token once, and stops cleanly on SIGTERM', async () => {
    const first = await startMain({ HUB_DATA_DIR: dataDir });
    children.push(first.child);
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    expect(first.output()).toContain(token);
    expect(statSync(join(dataDir, 'admin-token')).mode & 0o777).toBe(0o600);

    const api = (path: string, init: RequestInit = {}) => fetch(first.url + path, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    const created = await (await api('/api/devices', { method: 'POST', body: JSON.stringify({ id: 'proc-1' }) })).json();
    const device = new DeviceClient({ hubUrl: first.url, deviceId: 'proc-1', token: created.token, channels: TEST_CHANNELS });
    await device.connect();
    const closed = new Promise<number>((r) => device.once('close', (code) => r(code)));
    const t0 = Date.now() - 1000;
    for (let i = 0; i < 10; i++) device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: i }], t0 + i);
    await device.waitAcked();

    first.child.kill('SIGTERM');
    expect(await closed).toBe(1001); // [FP-9] FP_ERR_SHUTDOWN
    expect(await first.exited).toBe(0);

    // A restart on the same data dir keeps devices, readings and the token, and prints no new token.
    const second = await startMain({ HUB_DATA_DIR: dataDir });
    children.push(second.child);
    expect(second.output()).not.toContain(token);
    const res = await fetch(`${second.url}/api/devices/proc-1/readings?from=0`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await res.json()).points as { value: number }[]).map((p) => p.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });

  it('refuses bad configuration at start with a clear message and exit code 2', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'hub/src/main.ts'], { cwd: root, env: { ...process.env, HUB_PORT: 'eighty' }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(2);
    expect(stderr).toContain('HUB_PORT=eighty');
  });
});
