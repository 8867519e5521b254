// Parent side: every bench process (hub, load generators, servers) is started here, tracked by
// PID, and ended by PID — on success, on error, on Ctrl-C and when the bench process exits.
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(BENCH_DIR, '..');

const running = new Map<number, ChildProcess>();

export interface ChildOptions {
  /** extra node flags, e.g. --cpu-prof, --expose-gc */
  nodeFlags?: string[];
  /** JSON-serialisable configuration handed to the child as argv[2] */
  config?: unknown;
  logDir: string;
  /** how long the child may take to announce itself */
  startTimeoutMs?: number;
}

export class Child {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; method: string }>();
  private exited = false;

  constructor(readonly name: string, readonly proc: ChildProcess, readonly logPath: string) {
    proc.on('message', (message: { id?: number; result?: unknown; error?: string }) => {
      if (message.id === undefined) return;
      const call = this.pending.get(message.id);
      if (!call) return;
      this.pending.delete(message.id);
      if (message.error !== undefined) call.reject(new Error(`${this.name}.${call.method}: ${message.error}`));
      else call.resolve(message.result);
    });
    proc.once('exit', (code, signal) => {
      this.exited = true;
      running.delete(proc.pid!);
      for (const call of this.pending.values()) {
        call.reject(new Error(`${this.name} exited (${signal ?? code}) during ${call.method}; log: ${this.logPath}\n${this.logTail()}`));
      }
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  call<T = unknown>(method: string, params: unknown = {}, timeoutMs = 120_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} is not running; log: ${this.logPath}\n${this.logTail()}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}.${method} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        method,
        resolve: (v) => { clearTimeout(timer); resolve(v as T); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.proc.send({ id, method, params });
    });
  }

  logTail(chars = 1500): string {
    try {
      return readFileSync(this.logPath, 'utf8').slice(-chars);
    } catch {
      return '';
    }
  }

  /** SIGTERM by PID (children shut down cleanly on it), SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    await endProcess(this.proc, graceMs);
  }
}

function alive(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null;
}

async function endProcess(proc: ChildProcess, graceMs: number): Promise<void> {
  if (!alive(proc) || proc.pid === undefined) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    process.kill(proc.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
  if ((await Promise.race([exited, timer])) === 'timeout' && alive(proc)) {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      return;
    }
    await exited;
  }
}

export async function startChild<T = unknown>(name: string, script: string, options: ChildOptions): Promise<{ child: Child; ready: T }> {
  mkdirSync(options.logDir, { recursive: true });
  const logPath = join(options.logDir, `${name}.log`);
  const log = openSync(logPath, 'w');
  const proc = fork(join(BENCH_DIR, script), options.config === undefined ? [] : [JSON.stringify(options.config)], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx', ...(options.nodeFlags ?? [])],
    stdio: ['ignore', log, log, 'ipc'],
    // the bench's own flags must not reach the children through NODE_OPTIONS
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  closeSync(log);
  running.set(proc.pid!, proc);
  const child = new Child(name, proc, logPath);
  const ready = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${options.startTimeoutMs ?? 60_000} ms; log: ${logPath}\n${child.logTail()}`)), options.startTimeoutMs ?? 60_000);
    proc.on('message', function onStart(message: { event?: string; data?: unknown }) {
      if (message.event === 'ready') {
        clearTimeout(timer);
        proc.off('message', onStart);
        resolve(message.data as T);
      } else if (message.event === 'failed') {
        clearTimeout(timer);
        reject(new Error(`${name} failed to start:\n${String(message.data)}`));
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${signal ?? code}) before it was ready; log: ${logPath}\n${child.logTail()}`));
    });
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  }).catch(async (err) => {
    await child.stop(1000);
    throw err;
  });
  return { child, ready };
}

/** Ends every child still running, each by its own PID. */
export async function stopAllChildren(graceMs = 5000): Promise<void> {
  await Promise.all([...running.values()].map((proc) => endProcess(proc, graceMs)));
}

/** Last resort when the bench process itself is exiting: no time to wait for anyone. */
export function killAllChildrenNow(): void {
  for (const [pid, proc] of running) {
    if (!alive(proc)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

export function runningChildren(): number[] {
  return [...running.entries()].filter(([, proc]) => alive(proc)).map(([pid]) => pid);
}
