import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeSessionStoreContract } from './session-store-contract.ts';
import { createSqliteSessionStore, type SessionStore } from './session-store.ts';

describeSessionStoreContract('SQLite', async ({ maxSessions }) => {
  const dir = await mkdtemp(join(tmpdir(), 'session-store-'));
  const path = join(dir, 'sessions.db');
  const store = createSqliteSessionStore({ path, maxSessions });
  // a second connection to the same file is what a second hub process on this data dir would hold
  const peers: SessionStore[] = [];
  return {
    store,
    async peer() {
      const peer = createSqliteSessionStore({ path, maxSessions });
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
