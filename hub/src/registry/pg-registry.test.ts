import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { connectPostgres, migrate, type Sql } from '../cluster/postgres.ts';
import { PG_BIN, startPostgres, type Postgres } from '../../test/support/postgres.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import { createPgRegistry } from './pg-registry.ts';
import { describeRegistryContract } from './registry-contract.ts';

describe.runIf(hasRealPart(join(PG_BIN, 'initdb')))('PostgreSQL registry', () => {
  // one private server for the file, a fresh database per case
  let pg: Postgres;
  let databases = 0;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  describeRegistryContract('PostgreSQL', async () => {
    const url = await pg.database(`registry_${++databases}`);
    const pools: Sql[] = [connectPostgres(url)];
    await migrate(pools[0]);
    const registry = createPgRegistry(pools[0]);
    return {
      registry,
      // a pool of its own is what a second hub holds
      async peer() {
        const pool = connectPostgres(url);
        pools.push(pool);
        return createPgRegistry(pool);
      },
      async cleanup() {
        await registry.close();
        await Promise.all(pools.map((pool) => pool.end()));
      },
    };
  });
});
