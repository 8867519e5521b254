// A private PostgreSQL per vitest file, with a fresh migrated database per case (contract tests).
import { afterAll, beforeAll } from 'vitest';
import { connectPostgres, migrate, type Sql } from '../../src/cluster/postgres.ts';
import { startPostgres, type Postgres } from './postgres.ts';

/**
 * For a contract test file: one private server for the file (started and stopped with it) and a
 * fresh, migrated database per case. Each `pool()` is a connection pool of its own, as another hub
 * holds; `end()` closes them all.
 */
export function postgresPerFile(prefix: string): { freshDatabase(): Promise<{ pool(): Sql; end(): Promise<void> }> } {
  let pg: Postgres | undefined;
  let databases = 0;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    await pg?.stop();
  });
  return {
    async freshDatabase() {
      const url = await pg!.database(`${prefix}_${++databases}`);
      const pools: Sql[] = [];
      const pool = () => {
        const created = connectPostgres(url);
        pools.push(created);
        return created;
      };
      const migrator = connectPostgres(url);
      await migrate(migrator);
      await migrator.end();
      return {
        pool,
        end: async () => {
          await Promise.all(pools.map((p) => p.end()));
        },
      };
    },
  };
}
