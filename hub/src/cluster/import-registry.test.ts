// Moving a single-node hub into a cluster, on a real PostgreSQL: devices provisioned on a
// single-node hub are imported, and a cluster-mode hub then takes one of them with the token it
// was given by the single-node hub, resuming where it was.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats, type NatsCluster } from '../../test/support/nats.ts';
import { PG_BIN, startPostgres, type Postgres } from '../../test/support/postgres.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import { startTestHub } from '../../test/support/hub-fixture.ts';
import { connectPostgres } from './postgres.ts';
import { importRegistry, parseImportArgs, ImportUsageError } from './import-registry.ts';

const root = new URL('../../..', import.meta.url).pathname;

function runImport(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'hub/src/cluster/import-registry.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('import-registry arguments', () => {
  it('needs --from and a postgres:// --to; --help is help', () => {
    expect(parseImportArgs(['--help'])).toBe('help');
    expect(parseImportArgs(['--from', 'data', '--to', 'postgres://u@h/db', '--skip-existing'])).toMatchObject({ to: 'postgres://u@h/db', skipExisting: true });
    for (const bad of [[], ['--from', 'data'], ['--to', 'postgres://h/db'], ['--from', 'd', '--to', 'mysql://h/db'], ['--from', 'd', '--to', 'postgres://h/db', '--force']]) {
      expect(() => parseImportArgs(bad), bad.join(' ')).toThrow(ImportUsageError);
    }
  });
});

describe.runIf(hasRealPart(join(PG_BIN, 'initdb')) && hasRealPart('nats-server'))('import-registry into PostgreSQL', () => {
  let pg: Postgres;
  let nats: NatsCluster;
  let url: string;
  let dataDir: string;
  const tokens = new Map<string, string>();
  let session = 0;
  let ackedBefore = 0;

  beforeAll(async () => {
    [pg, nats] = await Promise.all([startPostgres(), startNats(1)]);
    url = await pg.database('imported');
    // a single-node hub with three devices; one of them has streamed, so it has firmware,
    // channels, channel names, last seen and a resume point to carry over
    const single = await startTestHub({ keepDataDir: true });
    dataDir = single.dataDir;
    for (const id of ['imp-1', 'imp-2', 'imp-3']) tokens.set(id, await single.provision(id));
    const device = single.device('imp-2', tokens.get('imp-2')!);
    await device.connect();
    session = device.session;
    for (let i = 0; i < 5; i++) device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: i }], Date.now() - 10_000 + i);
    await device.waitAcked();
    ackedBefore = device.acked;
    await single.stop();
  }, 120_000);
  afterAll(async () => {
    await nats?.stop();
    await pg?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('copies every device with its token hash, channels and resume point; a cluster-mode hub takes the device with its original token', async () => {
    const first = runImport(['--from', dataDir, '--to', url]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain('3 devices found, 3 imported (4 channel names)');

    const sql = connectPostgres(url, { max: 1 });
    try {
      const rows = await sql<{ id: string; firmware: string | null; session: string | null; acked_seq: string; last_seen: string | null }[]>`SELECT id, firmware, session, acked_seq, last_seen FROM devices ORDER BY id`;
      expect(rows.map((r) => r.id)).toEqual(['imp-1', 'imp-2', 'imp-3']);
      const moved = rows.find((r) => r.id === 'imp-2')!;
      expect([Number(moved.session), Number(moved.acked_seq), moved.last_seen !== null]).toEqual([session, ackedBefore, true]);
      expect((await sql`SELECT name FROM channel_names WHERE device_id = 'imp-2' ORDER BY name`).map((r) => r.name)).toEqual(['count', 'door', 'humidity', 'temperature']);
    } finally {
      await sql.end();
    }

    const hub = await startTestHub({ cluster: { natsServers: [nats.urls], postgresUrl: url, hubId: 'import-test' } });
    try {
      const listed = (await (await hub.api('/api/devices')).json()) as { id: string; firmware: string | null }[];
      expect(listed.map((d) => d.id)).toEqual(['imp-1', 'imp-2', 'imp-3']);
      // the token the single-node hub issued opens a connection on the cluster-mode hub, and the
      // device resumes its session where the single-node hub left it
      const device = hub.device('imp-2', tokens.get('imp-2')!, { session });
      await device.connect();
      expect(device.acked).toBe(ackedBefore);
      device.sendReadings([{ channel: 3, type: 'i32', offset: 0, value: 99 }], Date.now() - 1000);
      await device.waitAcked();
      const fresh = hub.device('imp-1', tokens.get('imp-1')!);
      await fresh.connect();
      // a wrong token is still refused
      await expect(hub.device('imp-3', 'not-the-token').connect()).rejects.toMatchObject({ status: 401 });
    } finally {
      await hub.stop();
    }
  }, 120_000);

  it('refuses ids that exist, writing nothing; --skip-existing copies only the others, and again nothing twice', async () => {
    // a second single-node registry: imp-1 (in PostgreSQL already) and imp-5 (new)
    const extraDir = mkdtempSync(join(tmpdir(), 'import-second-'));
    const second = await startTestHub({ dataDir: extraDir, keepDataDir: true });
    await second.provision('imp-1');
    const token5 = await second.provision('imp-5');
    await second.stop();
    try {
      const refused = runImport(['--from', extraDir, '--to', url]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('refused, nothing written: 1 of 2 device ids exist in PostgreSQL already: imp-1');
      expect(refused.stderr).toContain('--skip-existing');

      const skipped = runImport(['--from', extraDir, '--to', url, '--skip-existing']);
      expect(skipped.status, skipped.stderr).toBe(0);
      expect(skipped.stdout).toContain('2 devices found, 1 imported (0 channel names), 1 skipped because their id exists already: imp-1');
      const again = await importRegistry({ from: extraDir, to: url, skipExisting: true });
      expect([again.done, again.imported, again.existing]).toEqual([true, [], ['imp-1', 'imp-5']]);

      // imp-1 kept the first import's token; imp-5 came with its own
      const hub = await startTestHub({ cluster: { natsServers: [nats.urls], postgresUrl: url, hubId: 'import-test-2' } });
      try {
        await hub.device('imp-1', tokens.get('imp-1')!).connect();
        await hub.device('imp-5', token5).connect();
      } finally {
        await hub.stop();
      }
    } finally {
      rmSync(extraDir, { recursive: true, force: true });
    }
  }, 120_000);
});
