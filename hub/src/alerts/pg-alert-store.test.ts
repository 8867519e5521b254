import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Sql } from '../cluster/postgres.ts';
import { PG_BIN } from '../../test/support/postgres.ts';
import { postgresPerFile } from '../../test/support/postgres-per-file.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import type { AlertStore } from './alert-store.ts';
import { describeAlertStoreContract } from './alert-store-contract.ts';
import { createPgAlertStore } from './pg-alert-store.ts';

/** Resolves once a statement of this database waits for a row lock held by another transaction. */
async function someoneWaitsForALock(sql: Sql): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const [{ n }] = await sql<{ n: string }[]>`
      SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
    if (Number(n) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no statement came to wait for the lock');
}

/** Runs `work` in a transaction of its own and holds it open, uncommitted, until `commit()`. */
async function holdOpen(sql: Sql, work: (tx: Sql) => Promise<unknown>): Promise<{ commit(): Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let done!: Promise<unknown>;
  await new Promise<void>((worked, failed) => {
    done = sql.begin(async (tx) => {
      await work(tx as unknown as Sql);
      worked();
      await released;
    });
    done.catch(failed);
  });
  // idempotent, so a failed case can still let go of the transaction before its database is ended
  return {
    async commit() {
      release();
      await done;
    },
  };
}

const rule = {
  name: 'too hot', description: '', devices: '*' as const, channel: 'temp', above: 30, below: null, clear: null, forMs: 0, noDataMs: null,
  offlineMs: null, severity: 'warning' as const, actions: [], enabled: true,
};

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

  // The contract's races cannot hold one side still; these hold another hub's transaction open at
  // the point that matters, so the interleaving happens every run.
  describe('interleavings with another hub, held still', () => {
    it('a transition while a webhook is being deleted waits, then is queued for the other webhooks only', async () => {
      const db = await postgres.freshDatabase();
      try {
        const store = createPgAlertStore(db.pool());
        const other = db.pool();
        const created = await store.createRule(rule, 1);
        const gone = await store.createWebhook({ url: 'http://127.0.0.1:9/gone', secret: 's' }, 1);
        const kept = await store.createWebhook({ url: 'http://127.0.0.1:9/kept', secret: 's' }, 1);
        const deletion = await holdOpen(other, (tx) => tx`DELETE FROM webhooks WHERE id = ${gone.id}`);
        const opening = store.openAlert(created, 'dev-1', { to: 'firing', value: 31, at: 5 });
        await someoneWaitsForALock(other).finally(() => deletion.commit());
        // the foreign key check alone would fail the transition here, for a webhook no longer there
        const opened = await opening;
        expect(opened?.alert.state).toBe('firing');
        expect((await store.deliveries(kept.id, 10)).map((e) => e.eventId)).toEqual([opened!.event.id]);
        expect(await store.deliveries(gone.id, 10)).toEqual([]);
      } finally {
        await db.end();
      }
    });

    it('openAlert while the rule is being deleted waits, then opens nothing', async () => {
      const db = await postgres.freshDatabase();
      try {
        const store = createPgAlertStore(db.pool());
        const other = createPgAlertStore(db.pool());
        const created = await store.createRule(rule, 1);
        const deletion = await holdOpen(db.pool(), (tx) => tx`DELETE FROM alert_rules WHERE id = ${created.id}`);
        const opening = other.openAlert(created, 'dev-1', { to: 'firing', value: 31, at: 5 });
        await someoneWaitsForALock(db.pool()).finally(() => deletion.commit());
        expect(await opening).toBeUndefined();
        expect(await store.listAlerts({})).toEqual([]);
      } finally {
        await db.end();
      }
    });

    it('deleteRule while an alert of the rule is being opened waits, then cancels it', async () => {
      const db = await postgres.freshDatabase();
      try {
        const store = createPgAlertStore(db.pool());
        const created = await store.createRule(rule, 1);
        // what openAlert holds just before it commits: the rule's row shared, the new alert inserted
        const opening = await holdOpen(db.pool(), async (tx) => {
          await tx`SELECT 1 FROM alert_rules WHERE id = ${created.id} FOR KEY SHARE`;
          await tx`INSERT INTO alerts (rule_id, rule_name, device_id, severity, state, updated_at) VALUES (${created.id}, 'too hot', 'dev-1', 'warning', 'firing', 5)`;
        });
        const deleting = store.deleteRule(created.id);
        await someoneWaitsForALock(db.pool()).finally(() => opening.commit());
        expect(await deleting).toBe(true);
        expect(await store.openAlerts()).toEqual([]);
        expect((await store.listAlerts({})).map((a) => a.state)).toEqual(['cancelled']);
      } finally {
        await db.end();
      }
    });
  });
});
