import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRegistryContract } from './registry-contract.ts';
import type { DeviceRegistry } from './registry.ts';
import { createSqliteRegistry } from './sqlite-registry.ts';

describeRegistryContract('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sqlite-registry-'));
  const path = join(dir, 'registry.db');
  const registry = createSqliteRegistry({ path });
  // a second connection to the same file is what a second hub process on this data dir would hold
  const peers: DeviceRegistry[] = [];
  return {
    registry,
    async peer() {
      const peer = createSqliteRegistry({ path });
      peers.push(peer);
      return peer;
    },
    async cleanup() {
      for (const peer of peers) await peer.close();
      await registry.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
