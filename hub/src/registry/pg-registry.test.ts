import { join } from 'node:path';
import { describe } from 'vitest';
import { PG_BIN } from '../../test/support/postgres.ts';
import { postgresPerFile } from '../../test/support/postgres-per-file.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import { createPgRegistry } from './pg-registry.ts';
import { describeRegistryContract } from './registry-contract.ts';

describe.runIf(hasRealPart(join(PG_BIN, 'initdb')))('PostgreSQL registry', () => {
  const postgres = postgresPerFile('registry');

  describeRegistryContract('PostgreSQL', async () => {
    const db = await postgres.freshDatabase();
    const registry = createPgRegistry(db.pool());
    return {
      registry,
      // a pool of its own is what a second hub holds
      async peer() {
        return createPgRegistry(db.pool());
      },
      async cleanup() {
        await registry.close();
        await db.end();
      },
    };
  });
});
