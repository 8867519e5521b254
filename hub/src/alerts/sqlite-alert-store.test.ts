import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlertStore } from './alert-store.ts';
import { describeAlertStoreContract } from './alert-store-contract.ts';
import { createSqliteAlertStore } from './sqlite-alert-store.ts';

describeAlertStoreContract('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'alert-store-'));
  const path = join(dir, 'alerts.db');
  const store = createSqliteAlertStore({ path });
  // a second connection to the same file is what a second hub process on this data dir would hold
  const peers: AlertStore[] = [];
  return {
    store,
    async peer() {
      const peer = createSqliteAlertStore({ path });
      peers.push(peer);
      return peer;
    },
    async cleanup() {
      for (const peer of peers) await peer.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
