import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeCommandLogContract } from './command-log-contract.ts';
import { createSqliteCommandLog, type CommandLog } from './command-log.ts';

describeCommandLogContract('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'command-log-'));
  const path = join(dir, 'commands.db');
  const log = createSqliteCommandLog({ path });
  // a second connection to the same file is what a second hub process on this data dir would hold
  const peers: CommandLog[] = [];
  return {
    log,
    async peer() {
      const peer = createSqliteCommandLog({ path });
      peers.push(peer);
      return peer;
    },
    async cleanup() {
      for (const peer of peers) await peer.close();
      await log.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
