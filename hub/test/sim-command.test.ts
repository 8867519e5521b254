// The simulator command the "Add a device" dialog shows, run as an operator would paste it: a
// device added through the API, the dialog's command word for word (`npm run sim`, from the
// checkout, with no operator token anywhere), and that device's readings stored by a real hub.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simCommand } from '../../dashboard/src/sim-command.ts';
import type { HistoryResponse, ProvisionedDeviceView } from '../src/http/wire.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';

const root = new URL('../..', import.meta.url).pathname;

/** The words a POSIX shell makes of a pasted command line. */
function shellWords(text: string): string[] {
  const out = spawnSync('sh', ['-c', `for w in ${text}; do printf '%s\\0' "$w"; done`], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`sh: ${out.stderr}`);
  return out.stdout.split('\0').slice(0, -1);
}

describe('the dialog\'s simulator command', () => {
  let hub: TestHub;
  let sim: ChildProcess | null = null;
  /** a data dir with no admin-token file: the command must not need the operator token */
  const emptyDataDir = mkdtempSync(join(tmpdir(), 'sim-command-'));

  beforeAll(async () => {
    hub = await startTestHub();
  });
  afterAll(async () => {
    // npm runs the simulator under a shell and tsx: the whole process group goes, by its leader's PID
    if (sim?.pid && sim.exitCode === null && sim.signalCode === null) process.kill(-sim.pid, 'SIGKILL');
    await hub?.stop();
    rmSync(emptyDataDir, { recursive: true, force: true });
  });

  it('runs the device added through the API, with its own token, and its readings are stored', async () => {
    // a hub-picked id: one that does not end in 0001
    const res = await hub.api('/api/devices', { method: 'POST', body: JSON.stringify({ name: 'Pasted sensor' }) });
    expect(res.status).toBe(201);
    const device = (await res.json()) as ProvisionedDeviceView;
    expect(device.id).toMatch(/^dev-[0-9a-f]{8}$/);

    const command = simCommand(device.id, device.token, hub.url);
    const [program, ...args] = shellWords(command);
    expect(program).toBe('npm');
    expect(args.slice(0, 3)).toEqual(['run', 'sim', '--']);
    const startedAt = Date.now();
    const child = (sim = spawn(program, args, {
      cwd: root,
      detached: true,
      env: { ...process.env, HUB_ADMIN_TOKEN: '', HUB_DATA_DIR: emptyDataDir, npm_config_update_notifier: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));

    const path = `/api/devices/${device.id}/readings?format=json&channel=temperature&from=${startedAt - 60_000}&to=${startedAt + 120_000}`;
    const history = await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`the simulator exited with ${child.exitCode}:\n${output}`);
      const answer = (await (await hub.api(path)).json()) as HistoryResponse;
      return answer.points.length >= 2 ? answer : null;
    }, `readings of ${device.id} stored`, 30_000);
    expect(history!.points.length).toBeGreaterThanOrEqual(2);
    expect(output).toContain(`1 device(s) ${device.id} → ${hub.url}`);
    // nothing was provisioned: the device's own token was enough
    expect(output).not.toContain('provisioned');
    const listed = (await (await hub.api(`/api/devices/${device.id}`)).json()) as { name: string; counters: { readings: number } };
    expect(listed.name).toBe('Pasted sensor');
    expect(listed.counters.readings).toBeGreaterThan(0);
  });
});
