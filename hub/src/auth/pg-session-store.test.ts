import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { connectPostgres, migrate, type Sql } from '../cluster/postgres.ts';
import { PG_BIN, startPostgres, type Postgres } from '../../test/support/postgres.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import { createPgSessionStore } from './pg-session-store.ts';
import { describeSessionStoreContract } from './session-store-contract.ts';

describe.runIf(hasRealPart(join(PG_BIN, 'initdb')))('PostgreSQL session store', () => {
  // one private server for the file, a fresh database per case
  let pg: Postgres;
  let databases = 0;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  describeSessionStoreContract('PostgreSQL', async ({ maxSessions }) => {
    const url = await pg.database(`sessions_${++databases}`);
    const pools: Sql[] = [connectPostgres(url)];
    await migrate(pools[0]);
    const store = createPgSessionStore(pools[0], { maxSessions });
    return {
      store,
      // a pool of its own is what a second hub holds
      async peer() {
        const pool = connectPostgres(url);
        pools.push(pool);
        return createPgSessionStore(pool, { maxSessions });
      },
      async cleanup() {
        await store.close();
        await Promise.all(pools.map((pool) => pool.end()));
      },
    };
  });
});
