// A private influxd for tests that must stop and restart InfluxDB (the shared one from .ci/run must
// stay up for everyone else). Every port and directory lives in a fresh temp dir, so it never
// touches a system install, and it is only ever signalled by its own PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './real-parts.ts';

export interface Influxd {
  /** `http://127.0.0.1:<port>`, without a database */
  url: string;
  /** PID of the running process; changes on restart */
  readonly pid: number;
  /** ends the process and removes its data */
  stop(): Promise<void>;
  /** ends the process abruptly, keeping its data, to simulate an outage or crash */
  kill(): Promise<void>;
  /** ends the process if it runs, keeping its data, and starts it again on the same ports */
  restart(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 10_000;

// A test worker that dies mid-test must not leave influxd processes behind.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface InfluxdOptions {
  /** `[data] max-values-per-tag`: InfluxDB refuses points that would give a tag more values */
  maxValuesPerTag?: number;
}

function configText(dir: string, rpcPort: number, httpPort: number, options: InfluxdOptions): string {
  // Upstream 1.x reads `reporting-disabled`; Debian's build reads `reporting-enabled`. Each ignores the other.
  return `reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
${options.maxValuesPerTag !== undefined ? `  max-values-per-tag = ${options.maxValuesPerTag}\n` : ''}[http]
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
  pprof-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  log-enabled = false
[subscriber]
  enabled = false
[logging]
  level = "warn"
  suppress-logo = true
`;
}

async function pingOnce(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
    return res.status === 204;
  } catch {
    return false;
  }
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startInfluxd(options: InfluxdOptions = {}): Promise<Influxd> {
  const dir = await mkdtemp(join(tmpdir(), 'test-influxd-'));
  const [rpcPort, httpPort] = [await freePort(), await freePort()];
  const configPath = join(dir, 'influxdb.conf');
  const logPath = join(dir, 'influxd.log');
  await writeFile(configPath, configText(dir, rpcPort, httpPort, options));
  const url = `http://127.0.0.1:${httpPort}`;
  let child: ChildProcess | undefined;

  async function launch(): Promise<void> {
    const log = openSync(logPath, 'a');
    const proc = spawn('influxd', ['-config', configPath], { stdio: ['ignore', log, log] });
    closeSync(log);
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    child = proc;
    const spawnError = new Promise<Error>((resolve) => proc.once('error', resolve));
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) break;
      if (await pingOnce(url)) return;
      const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(r, 100))]);
      if (failed) throw failed;
    }
    await end('SIGKILL');
    const tail = (await readFile(logPath, 'utf8').catch(() => '')).slice(-2000);
    throw new Error(`influxd did not answer /ping on ${url} within ${STARTUP_TIMEOUT_MS} ms; log tail:\n${tail}`);
  }

  async function end(signal: NodeJS.Signals): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.pid === undefined) return;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    process.kill(proc.pid, signal);
    if (!(await waitForExit(proc, EXIT_TIMEOUT_MS))) {
      process.kill(proc.pid, 'SIGKILL');
      await waitForExit(proc, EXIT_TIMEOUT_MS);
    }
  }

  await launch().catch(async (err) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });

  return {
    url,
    get pid() {
      return child?.pid ?? -1;
    },
    async stop() {
      await end('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
    async kill() {
      await end('SIGKILL');
    },
    async restart() {
      await end('SIGTERM');
      await launch();
    },
  };
}
