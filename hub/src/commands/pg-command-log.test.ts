import { join } from 'node:path';
import { describe } from 'vitest';
import { PG_BIN } from '../../test/support/postgres.ts';
import { postgresPerFile } from '../../test/support/postgres-per-file.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import { createPgCommandLog } from './pg-command-log.ts';
import { describeCommandLogContract } from './command-log-contract.ts';

describe.runIf(hasRealPart(join(PG_BIN, 'initdb')))('PostgreSQL command log', () => {
  const postgres = postgresPerFile('commands');

  describeCommandLogContract('PostgreSQL', async () => {
    const db = await postgres.freshDatabase();
    const log = createPgCommandLog(db.pool());
    return {
      log,
      // a pool of its own is what a second hub holds
      async peer() {
        return createPgCommandLog(db.pool());
      },
      async cleanup() {
        await log.close();
        await db.end();
      },
    };
  });
});
