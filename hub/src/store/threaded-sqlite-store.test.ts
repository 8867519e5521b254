import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStoreContract } from './store-contract.ts';
import { createThreadedSqliteStore } from './threaded-sqlite-store.ts';

// The same contract as the in-thread store: the thread must change nothing but where the work runs.
describeStoreContract('SQLite on its own thread', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sqlite-thread-'));
  const store = createThreadedSqliteStore({ path: join(dir, 'readings.db') });
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
