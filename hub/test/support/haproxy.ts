// A private HAProxy in front of several hubs, as the README's cluster example runs it: HTTP mode,
// WebSocket upgrades tunnelled, backends checked on /healthz so a dead hub leaves the rotation.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './real-parts.ts';

export interface Haproxy {
  url: string;
  port: number;
  /** what HAProxy printed (server state changes), for a failing test's message */
  output(): string;
  stop(): Promise<void>;
}

export function haproxyConfig(port: number, backends: { name: string; port: number }[]): string {
  return `global
  maxconn 9000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  retries 3
  option redispatch
frontend hubs
  bind 127.0.0.1:${port}
  default_backend hubs
backend hubs
  balance roundrobin
  option httpchk
  http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host hub
  http-check expect status 200
${backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port} check inter 500 fall 2 rise 1`).join('\n')}
`;
}

export async function startHaproxy(backends: { name: string; port: number }[]): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'test-haproxy-'));
  const port = await freePort();
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, haproxyConfig(port, backends));
  const child: ChildProcess = spawn('haproxy', ['-f', config, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const up = () => new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
  const deadline = Date.now() + 10_000;
  while (!(await up())) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error('haproxy did not start');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
