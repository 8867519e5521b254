// The hub as users run it: `npm start` and its build (hub/dist/main.js, plain node, no TypeScript
// loader) in a process of their own, with the embedded store, signals, and the one-line reasons it
// gives when it cannot start.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceClient } from '../../device-sim/src/device-client.ts';
import { TEST_CHANNELS } from './support/hub-fixture.ts';

const root = new URL('../..', import.meta.url).pathname;
const ENTRY = 'hub/dist/main.js';
const STACK_FRAME = /^\s+at /m;

interface Running {
  child: ChildProcess;
  url: string;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
/** processes started below `npm start`: killed at the end should a failing test leave them */
const strays: number[] = [];
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hub-main-'));
  dirs.push(dir);
  return dir;
}

function launch(command: string, args: string[], env: Record<string, string>): Omit<Running, 'url' | 'port'> {
  const child = spawn(command, args, {
    cwd: root, env: { ...process.env, HUB_HOST: '127.0.0.1', HUB_PORT: '0', HUB_ADMIN_TOKEN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Starts a hub and waits until it says it is up; `command` is `node` (the built entry) or `npm`. */
async function startHub(env: Record<string, string>, command: 'node' | 'npm' = 'node'): Promise<Running> {
  const running = command === 'node' ? launch(process.execPath, [ENTRY], env) : launch('npm', ['start'], env);
  let port: number | undefined;
  let exited = false;
  void running.exited.then(() => (exited = true));
  while (!port) {
    const ready = /^hub: dashboard at http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(running.stderr());
    if (ready) port = Number(ready[1]);
    else if (exited) throw new Error(`hub did not start:\n${running.stdout()}\n${running.stderr()}`);
    else await new Promise((r) => setTimeout(r, 50));
  }
  return { ...running, port, url: `http://127.0.0.1:${port}` };
}

/** Runs the built entry to its end. */
async function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const running = launch(process.execPath, [ENTRY, ...args], env);
  // 'close' comes once the output pipes are drained too; 'exit' can come before the last line
  const closed = new Promise((r) => running.child.once('close', r));
  const code = await running.exited;
  await closed;
  return { code, stdout: running.stdout(), stderr: running.stderr() };
}

/** Every process below `pid`, read from /proc. */
function descendants(pid: number): number[] {
  const childrenOf = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    childrenOf.set(ppid, [...(childrenOf.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of childrenOf.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** JSON log lines of a hub's stdout (npm's own banner lines are not JSON and are left out). */
function logLines(stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

async function streamingDevice(hub: Running, token: string, id: string) {
  const api = (path: string, init: RequestInit = {}) => fetch(hub.url + path, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  const created = await (await api('/api/devices', { method: 'POST', body: JSON.stringify({ id }) })).json();
  const device = new DeviceClient({ hubUrl: hub.url, deviceId: id, token: created.token, channels: TEST_CHANNELS });
  await device.connect();
  const closed = new Promise<number>((r) => device.once('close', (code) => r(code)));
  const t0 = Date.now() - 1000;
  for (let i = 0; i < 10; i++) device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: i }], t0 + i);
  await device.waitAcked();
  return { closed };
}

beforeAll(() => {
  // What `npm install` (prepare) and `npm start` (prestart) run.
  execFileSync(process.execPath, ['hub/build.mjs'], { cwd: root, stdio: 'inherit' });
});

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  // Checked by command line, so a PID the system has since given to another process is left alone.
  for (const pid of strays) if (cmdline(pid).includes(ENTRY)) process.kill(pid, 'SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('hub process (npm start)', () => {
  it('starts from its build on the embedded store, shows a generated operator token once on stderr only, and stops cleanly on SIGTERM', async () => {
    const dataDir = tempDir();
    const first = await startHub({ HUB_DATA_DIR: dataDir });
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    expect(statSync(join(dataDir, 'admin-token')).mode & 0o777).toBe(0o600);
    // For the person starting the hub: one plain line on stderr. Never in the JSON log.
    expect(first.stderr().split('\n').filter((l) => l.includes(token))).toHaveLength(1);
    expect(first.stdout()).not.toContain(token);
    expect(logLines(first.stdout()).some((l) => l.msg === 'generated the operator token')).toBe(true);

    // The built hub finds the dashboard folder (and bundles its client) and runs the store's thread
    // without a TypeScript loader.
    const page = await fetch(`${first.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    expect((await fetch(`${first.url}/assets/app.js`)).status).toBe(200);
    const device = await streamingDevice(first, token, 'proc-1');

    first.child.kill('SIGTERM');
    expect(await device.closed).toBe(1001); // [FP-9] FP_ERR_SHUTDOWN
    expect(await first.exited).toBe(0);
    expect(logLines(first.stdout()).map((l) => l.msg)).toContain('hub stopped');

    // A restart on the same data dir keeps devices, readings and the token, and shows no token.
    const second = await startHub({ HUB_DATA_DIR: dataDir });
    expect(second.stdout() + second.stderr()).not.toContain(token);
    const res = await fetch(`${second.url}/api/devices/proc-1/readings?from=0`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await res.json()).points as { value: number }[]).map((p) => p.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });

  it('SIGTERM to the `npm start` process stops the hub cleanly and leaves no process behind', async () => {
    const hub = await startHub({ HUB_DATA_DIR: tempDir() }, 'npm');
    const npmPid = hub.child.pid!;
    const below = descendants(npmPid);
    strays.push(...below);
    const hubPid = below.find((pid) => cmdline(pid).includes(ENTRY));
    expect(hubPid, `no hub process below npm: ${below.map(cmdline).join('; ')}`).toBeDefined();

    process.kill(npmPid, 'SIGTERM');
    expect(await hub.exited).toBe(0);
    // npm is gone only after its child; nothing it started may outlive it (a shell between npm and
    // node would die of the signal and leave node running as an orphan).
    for (const pid of below) expect(alive(pid), `${pid} (${cmdline(pid)}) still runs`).toBe(false);
    expect(await accepts(hub.port)).toBe(false);
    const messages = logLines(hub.stdout()).map((l) => l.msg);
    expect(messages).toContain('stopping');
    expect(messages).toContain('hub stopped');
  });

  it('Ctrl-C on `npm start` (SIGINT to npm and to the hub at once) stops the hub once and completely', async () => {
    const dataDir = tempDir();
    const hub = await startHub({ HUB_DATA_DIR: dataDir }, 'npm');
    const below = descendants(hub.child.pid!);
    strays.push(...below);
    const hubPid = below.find((pid) => cmdline(pid).includes(ENTRY))!;
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const device = await streamingDevice(hub, token, 'proc-2');

    // A terminal signals the whole foreground process group, and npm forwards the signal as well:
    // the hub gets SIGINT twice, and the second must not cut the stop short.
    process.kill(hubPid, 'SIGINT');
    process.kill(hub.child.pid!, 'SIGINT');
    expect(await device.closed).toBe(1001);
    expect(await hub.exited).toBe(0);
    expect(alive(hubPid)).toBe(false);
    const messages = logLines(hub.stdout()).map((l) => l.msg);
    expect(messages.filter((m) => m === 'stopping')).toHaveLength(1);
    expect(messages).toContain('hub stopped');
  });

  it('--help lists every environment variable with its default and exits 0; an unknown argument exits 2', async () => {
    const help = await run(['--help'], {});
    expect(help.code).toBe(0);
    // Every variable config.ts reads.
    const config = readFileSync(join(root, 'hub/src/config.ts'), 'utf8');
    const names = new Set([...config.matchAll(/\benv\.([A-Z][A-Z0-9_]+)|'((?:HUB|INFLUX)_[A-Z0-9_]+)'/g)].map((m) => m[1] ?? m[2]));
    expect(names.size).toBeGreaterThan(10);
    for (const name of names) expect(help.stdout, name).toContain(name);
    expect(help.stdout).toContain('default 8080');
    expect(help.stdout).toMatch(/HUB_METRICS_TOKEN\s+unset\s+when set, GET \/metrics requires `Authorization: Bearer <token>`/);

    const viaNpm = launch('npm', ['start', '--', '--help'], {});
    expect(await viaNpm.exited).toBe(0);
    expect(viaNpm.stdout()).toContain('HUB_DATA_DIR');

    const unknown = await run(['--port', '80'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe('hub: unknown argument --port: the hub takes its configuration from environment variables (see --help)');
  });
});

describe('hub process: refusing to start', () => {
  let busy: Server;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(() => busy.close());

  /** Exit code 2, exactly one line on stderr, no stack trace anywhere. */
  async function refused(env: Record<string, string>): Promise<string> {
    const result = await run([], env);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(2);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(result.stdout + result.stderr).not.toMatch(STACK_FRAME);
    return lines[0];
  }

  it('bad configuration: the variable is named', async () => {
    expect(await refused({ HUB_PORT: 'eighty', HUB_DATA_DIR: tempDir() })).toBe('hub: HUB_PORT=eighty: expected an integer from 0 to 65535');
    expect(await refused({ HUB_ADMIN_TOKEN: 'operator', HUB_DATA_DIR: tempDir() })).toMatch(/^hub: HUB_ADMIN_TOKEN is 8 characters long: use at least 16/);
  });

  it('a port in use', async () => {
    const port = (busy.address() as { port: number }).port;
    expect(await refused({ HUB_PORT: String(port), HUB_DATA_DIR: tempDir() })).toBe(`hub: port ${port} is already in use (HUB_PORT)`);
  });

  it('a data dir that is a regular file', async () => {
    const file = join(tempDir(), 'not-a-dir');
    writeFileSync(file, '');
    expect(await refused({ HUB_DATA_DIR: file })).toBe(`hub: cannot use data dir ${file}: ${file} is not a directory`);
    expect(await refused({ HUB_DATA_DIR: join(file, 'data') })).toMatch(/^hub: cannot use data dir .*not a directory/);
  });

  it('readings.db or registry.db that is a directory', async () => {
    for (const name of ['readings.db', 'registry.db']) {
      const dataDir = tempDir();
      mkdirSync(join(dataDir, name));
      expect(await refused({ HUB_DATA_DIR: dataDir })).toBe(`hub: cannot use data dir ${dataDir}: ${join(dataDir, name)} is a directory`);
    }
  });

  it('an embedded store that cannot be opened fails the start, not the first query', async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, 'readings.db'), Buffer.alloc(8192, 'not sqlite'));
    expect(await refused({ HUB_DATA_DIR: dataDir })).toBe(`hub: cannot use data dir ${dataDir}: ${join(dataDir, 'readings.db')}: file is not a database`);
  });

  it('InfluxDB unreachable at start is not fatal: one warning, then the hub spools', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const hub = await startHub({ HUB_DATA_DIR: tempDir(), INFLUX_URL: `http://127.0.0.1:${port}/telemetry` });
    const warnings = logLines(hub.stdout()).filter((l) => (l.level as number) >= 40);
    expect(warnings.map((l) => l.msg)).toEqual(['InfluxDB not reachable at start; spooling until it is']);
    expect(hub.stdout() + hub.stderr()).not.toMatch(STACK_FRAME);
    const health = await (await fetch(`${hub.url}/healthz`)).json();
    expect(health).toMatchObject({ status: 'degraded', store: { kind: 'influxdb', reachable: false } });
    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
  });
});
