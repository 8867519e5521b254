import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AlertStore } from './alert-store.ts';
import { describeAlertStoreContract } from './alert-store-contract.ts';
import { createSqliteAlertStore, listLimit, MAX_LIST_LIMIT } from './sqlite-alert-store.ts';

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

// both stores read the limit through listLimit; the contract checks the default, 0 and a huge one
describe('listLimit', () => {
  it('caps a listing at 1000 alerts', () => {
    expect(MAX_LIST_LIMIT).toBe(1000);
    expect(listLimit({ limit: 1001 })).toBe(1000);
    expect(listLimit({ limit: 1000 })).toBe(1000);
    expect(listLimit({ limit: 7.9 })).toBe(7);
    expect(listLimit({})).toBe(100);
  });
});
