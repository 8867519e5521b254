import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_BIN, startPostgres, type Postgres } from '../../test/support/postgres.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import { MIGRATIONS } from './migrations.ts';
import { connectPostgres, migrate, retryOnConflict, type Sql } from './postgres.ts';

describe('cluster migrations', () => {
  it('are numbered 1, 2, 3 … in the order they are listed', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });
});

describe('retryOnConflict', () => {
  const conflict = (code: string) => Object.assign(new Error(code), { code });

  it('runs the work again after a deadlock or serialization failure', async () => {
    let calls = 0;
    const work = async () => {
      calls++;
      if (calls === 1) throw conflict('40P01');
      if (calls === 2) throw conflict('40001');
      return 'done';
    };
    expect(await retryOnConflict(work)).toBe('done');
    expect(calls).toBe(3);
  });

  it('passes any other error on at once, and a conflict after the last attempt', async () => {
    let calls = 0;
    await expect(retryOnConflict(async () => { calls++; throw conflict('23505'); })).rejects.toMatchObject({ code: '23505' });
    expect(calls).toBe(1);
    calls = 0;
    await expect(retryOnConflict(async () => { calls++; throw conflict('40P01'); }, 3)).rejects.toMatchObject({ code: '40P01' });
    expect(calls).toBe(3);
  });
});

describe.runIf(hasRealPart(join(PG_BIN, 'initdb')))('cluster schema in PostgreSQL', () => {
  let pg: Postgres;
  let databases = 0;
  const pools: Sql[] = [];
  const fresh = async (max?: number) => {
    const url = await pg.database(`migrate_${++databases}`);
    return () => {
      const pool = connectPostgres(url, { max });
      pools.push(pool);
      return pool;
    };
  };
  const tables = async (sql: Sql) =>
    (await sql<{ table_name: string }[]>`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`).map((r) => r.table_name);

  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
    await pg?.stop();
  });

  it('four hubs migrating one fresh database at once all succeed and leave one schema', async () => {
    const connect = await fresh(1);
    const hubs = [connect(), connect(), connect(), connect()];
    const results = await Promise.all(hubs.map((sql) => migrate(sql)));
    // each version applied by exactly one of them
    expect(results.flatMap((r) => r.applied).sort((a, b) => a - b)).toEqual(MIGRATIONS.map((m) => m.version));
    for (const r of results) expect(r.version).toBe(MIGRATIONS.length);
    const versions = await hubs[0]<{ version: number; name: string }[]>`SELECT version, name FROM schema_version ORDER BY version`;
    expect(versions.map((v) => ({ ...v }))).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })));
    expect(await tables(hubs[1])).toEqual(expect.arrayContaining(['channel_names', 'commands', 'devices', 'schema_version', 'sessions']));
    // a hub starting later finds nothing to do
    const late = connect();
    expect(await migrate(late)).toEqual({ applied: [], version: MIGRATIONS.length });
    // hubs are told apart in pg_stat_activity
    expect((await late<{ name: string }[]>`SELECT current_setting('application_name') AS name`)[0].name).toBe('telemetry-hub');
  });

  it('a migration that fails applies none of its statements, and is tried again at the next start', async () => {
    const sql = (await fresh())();
    await migrate(sql);
    const broken = { version: MIGRATIONS.length + 1, name: 'broken', statements: ['CREATE TABLE half_done (a integer)', 'SELECT no_such_column FROM devices'] };
    await expect(migrate(sql, [...MIGRATIONS, broken])).rejects.toMatchObject({ code: '42703' });
    expect(await tables(sql)).not.toContain('half_done');
    const fixed = { ...broken, statements: ['CREATE TABLE half_done (a integer)'] };
    expect(await migrate(sql, [...MIGRATIONS, fixed])).toEqual({ applied: [fixed.version], version: fixed.version });
    expect(await tables(sql)).toContain('half_done');
    // an older hub (knowing fewer migrations) still starts against the newer schema
    expect(await migrate(sql)).toEqual({ applied: [], version: fixed.version });
  });

  it('refuses a list with one version twice', async () => {
    const sql = (await fresh())();
    await expect(migrate(sql, [...MIGRATIONS, { ...MIGRATIONS[0] }])).rejects.toThrow(/twice/);
  });
});
