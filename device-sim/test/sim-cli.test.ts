// `npm run sim` as users run it: the CLI in its own process against a real hub.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, waitFor, type TestHub } from '../../hub/test/support/hub-fixture.ts';
import { FLAGS } from '../src/cli-args.ts';

const root = new URL('../..', import.meta.url).pathname;

interface DeviceView { id: string; online: boolean; counters: { readings: number; rejected: number; sequenceGaps: number } }

interface Sim {
  child: ChildProcess;
  output: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

function sim(args: string[], env: Record<string, string> = {}): Sim {
  const child = spawn(process.execPath, ['--import', 'tsx', 'device-sim/src/cli.ts', ...args], {
    cwd: root, env: { ...process.env, HUB_ADMIN_TOKEN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, stderr: () => err, exited };
}

/** "readings 12,345 made" in the final report → 12345 */
function reported(output: string, what: string): number {
  const match = new RegExp(`${what}\\s+([\\d,]+) made`).exec(output);
  if (!match) throw new Error(`no "${what}" in:\n${output}`);
  return Number(match[1].replace(/,/g, ''));
}

describe('device-sim CLI', () => {
  let hub: TestHub;
  let dir: string;
  const devices = async (prefix: string): Promise<DeviceView[]> =>
    ((await (await hub.api('/api/devices')).json()) as DeviceView[]).filter((d) => d.id.startsWith(prefix));

  beforeAll(async () => {
    hub = await startTestHub();
    dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
  });
  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    }
    await hub?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('documents every flag in --help and refuses bad options with exit code 2', async () => {
    const help = sim(['--help']);
    expect(await help.exited).toBe(0);
    for (const name of Object.keys(FLAGS)) expect(help.output()).toContain(`--${name}`);
    const bad = sim(['--devices', 'many']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain('device-sim: --devices many: expected a whole number from 1 to 10000');
  });

  it('runs 1000 devices: the hub counts them all online and stores their readings', async () => {
    const tokensFile = join(dir, 'tokens.json');
    const run = sim([
      '--hub', hub.url, '--token', hub.adminToken, '--devices', '1000', '--prefix', 'load-', '--rate', '5',
      '--channels', 'temperature,counter', '--duration', '10', '--summary-interval', '2', '--connect-rate', '500',
      '--tokens-file', tokensFile, '--seed', '11',
    ]);
    const online = await waitFor(async () => {
      const list = await devices('load-');
      return list.length === 1000 && list.every((d) => d.online) ? list : null;
    }, '1000 devices online', 25_000);
    expect(online).toHaveLength(1000);
    expect(await run.exited).toBe(0);
    const output = run.output();
    expect(output).toContain('provisioned 1000 device(s)');
    // the periodic summary reports online devices; whether one falls after the last connect depends
    // on how busy the machine is, so the all-online moment is the final report's peak
    expect(output).toMatch(/online [\d,]+\/1,000/);
    expect(output).toContain('peak online 1,000');
    const list = await devices('load-');
    expect(list.every((d) => d.counters.readings > 0)).toBe(true);
    expect(list.reduce((n, d) => n + d.counters.readings, 0)).toBe(reported(output, 'readings'));
    expect(list.reduce((n, d) => n + d.counters.sequenceGaps, 0)).toBe(0);
    expect(Object.keys(JSON.parse(readFileSync(tokensFile, 'utf8')))).toHaveLength(1000);

    // a restart reuses the tokens: no operator token needed
    const again = sim(['--hub', hub.url, '--devices', '3', '--prefix', 'load-', '--duration', '1', '--tokens-file', tokensFile]);
    expect(await again.exited).toBe(0);
    expect(again.output()).not.toContain('provisioned');
    // without the tokens, existing devices are an error, not silently recreated
    const clash = sim(['--hub', hub.url, '--token', hub.adminToken, '--devices', '3', '--prefix', 'load-', '--duration', '1']);
    expect(await clash.exited).toBe(1);
    expect(clash.stderr()).toContain('load-0001, load-0002, load-0003 already exist on the hub');
    expect(clash.stderr()).toContain('--reprovision');
  }, 40_000);

  it('with --fault malformed:0.2 the hub stays up, refuses the damaged frames and stores every good one', async () => {
    const run = sim([
      '--hub', hub.url, '--token', hub.adminToken, '--devices', '20', '--prefix', 'noisy-', '--rate', '5',
      '--duration', '5', '--summary-interval', '0', '--fault', 'malformed:0.2', '--seed', '3',
    ]);
    expect(await run.exited).toBe(0);
    const output = run.output();
    expect(output).toMatch(/FP_ERR_BAD_CHECKSUM×\d+/);
    expect(output).toMatch(/unacknowledged 0 kept at exit/);
    expect((await fetch(hub.url + '/healthz')).status).toBe(200);
    const list = await devices('noisy-');
    expect(list.reduce((n, d) => n + d.counters.rejected, 0)).toBeGreaterThan(10);
    // damaged frames were resent intact after the reconnect: every reading made is stored, once
    expect(list.reduce((n, d) => n + d.counters.readings, 0)).toBe(reported(output, 'readings'));
    expect(list.reduce((n, d) => n + d.counters.sequenceGaps, 0)).toBe(0);
    const metrics = await (await fetch(hub.url + '/metrics')).text();
    expect(metrics).toMatch(/hub_rejected_total\{code="FP_ERR_BAD_CHECKSUM"\} [1-9]/);
  }, 30_000);
});
