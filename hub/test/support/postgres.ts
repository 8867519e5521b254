// A private PostgreSQL server for tests: its own data dir and port on 127.0.0.1, started with
// pg_ctl and stopped by its PID. initdb refuses to run as root, so as root it runs as `postgres`.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './real-parts.ts';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface Postgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** a URL for another database on the same server, created if missing */
  database(name: string): Promise<string>;
  /** ends the server abruptly (SIGKILL to its PID), keeping its data */
  kill(): void;
  /** starts it again on the same port and data dir */
  start(): Promise<void>;
  /** stops it and removes its data */
  stop(): Promise<void>;
}

export function hasPostgres(): boolean {
  return existsSync(join(PG_BIN, 'initdb'));
}

function asPostgres(args: string[]): { status: number | null; output: string } {
  const root = userInfo().uid === 0;
  const [cmd, rest] = root ? ['runuser', ['-u', 'postgres', '--', ...args]] : [args[0], args.slice(1)];
  const result = spawnSync(cmd, rest, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

// pg_ctl starts the server as a daemon: a test process that dies must not leave it behind.
const running = new Set<() => number | null>();
process.once('exit', () => {
  for (const pidOf of running) {
    const pid = pidOf();
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

export async function startPostgres(): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), 'test-pg-'));
  // the server runs as `postgres`, which must be able to enter and own its directory
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  if (userInfo().uid === 0) {
    const pg = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, pg, gid);
  }
  const init = asPostgres([join(PG_BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.output}`);
  const port = await freePort();
  const log = join(dir, 'server.log');

  async function start(): Promise<void> {
    // After a SIGKILL the old server's backends take a moment to notice and let go of shared
    // memory; until then a new server refuses to start. Try again for a while.
    for (let attempt = 1; ; attempt++) {
      const run = asPostgres([join(PG_BIN, 'pg_ctl'), '-D', data, '-l', log, '-w', '-t', '30', '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, 'start']);
      if (run.status === 0) return;
      if (attempt >= 20) throw new Error(`pg_ctl start failed: ${run.output}\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : ''}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  function pid(): number | null {
    const file = join(data, 'postmaster.pid');
    return existsSync(file) ? Number(readFileSync(file, 'utf8').split('\n')[0]) : null;
  }
  await start();
  running.add(pid);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

  return {
    url,
    port,
    async database(name) {
      const { default: postgres } = await import('postgres');
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const exists = await sql`SELECT 1 FROM pg_database WHERE datname = ${name}`;
        if (exists.length === 0) await sql.unsafe(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      } finally {
        await sql.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    kill() {
      const p = pid();
      if (p) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
    start,
    async stop() {
      running.delete(pid);
      const p = pid();
      if (p) {
        asPostgres([join(PG_BIN, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', '-t', '20', 'stop']);
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // stopped
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
