import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { connectPostgres, migrate, type Sql } from '../cluster/postgres.ts';
import { PG_BIN, startPostgres, type Postgres } from '../../test/support/postgres.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import { createPgCommandLog } from './pg-command-log.ts';
import { describeCommandLogContract } from './command-log-contract.ts';

describe.runIf(hasRealPart(join(PG_BIN, 'initdb')))('PostgreSQL command log', () => {
  // one private server for the file, a fresh database per case
  let pg: Postgres;
  let databases = 0;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  describeCommandLogContract('PostgreSQL', async () => {
    const url = await pg.database(`commands_${++databases}`);
    const pools: Sql[] = [connectPostgres(url)];
    await migrate(pools[0]);
    const log = createPgCommandLog(pools[0]);
    return {
      log,
      // a pool of its own is what a second hub holds
      async peer() {
        const pool = connectPostgres(url);
        pools.push(pool);
        return createPgCommandLog(pool);
      },
      async cleanup() {
        await log.close();
        await Promise.all(pools.map((pool) => pool.end()));
      },
    };
  });
});
