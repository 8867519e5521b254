import { join } from 'node:path';
import { describe } from 'vitest';
import { PG_BIN } from '../../test/support/postgres.ts';
import { postgresPerFile } from '../../test/support/postgres-per-file.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import type { AlertStore } from './alert-store.ts';
import { describeAlertStoreContract } from './alert-store-contract.ts';
import { createPgAlertStore } from './pg-alert-store.ts';

describe.runIf(hasRealPart(join(PG_BIN, 'initdb')))('PostgreSQL alert store', () => {
  const postgres = postgresPerFile('alerts');

  describeAlertStoreContract('PostgreSQL', async () => {
    const db = await postgres.freshDatabase();
    const store = createPgAlertStore(db.pool());
    const peers: AlertStore[] = [];
    return {
      store,
      // a pool of its own is what a second hub holds
      async peer() {
        const peer = createPgAlertStore(db.pool());
        peers.push(peer);
        return peer;
      },
      async cleanup() {
        for (const peer of peers) await peer.close();
        await store.close();
        await db.end();
      },
    };
  });
});
