// The behaviour every SessionStore must show, run against each implementation by its own test
// file. Several hub processes may share one store (a browser's next request may reach another
// hub), so the cases run through two handles on the same sessions, as two processes would hold.
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionStore } from './session-store.ts';

export interface SessionStoreUnderTest {
  store: SessionStore;
  /** another handle on the same sessions, as a second hub process would hold; closed by cleanup */
  peer(): Promise<SessionStore>;
  cleanup(): Promise<void>;
}

// in the future: a store may drop sessions that expired before it opened, by the real clock
const T0 = 4_102_444_800_000; // 2100-01-01
const HOUR = 3_600_000;

export function describeSessionStoreContract(name: string, factory: (options: { maxSessions: number }) => Promise<SessionStoreUnderTest>): void {
  describe(`SessionStore contract: ${name}`, () => {
    // a store of its own per case, made by the case: maxSessions counts every session in it
    let subject: SessionStoreUnderTest | undefined;
    async function open(maxSessions = 100): Promise<{ store: SessionStore; peer: SessionStore }> {
      subject = await factory({ maxSessions });
      return { store: subject.store, peer: await subject.peer() };
    }
    afterEach(async () => {
      await subject?.cleanup();
      subject = undefined;
    });

    /** the sessions among `ids` that are live at T0 */
    async function live(store: SessionStore, ids: string[]): Promise<string[]> {
      const found: string[] = [];
      for (const id of ids) if ((await store.expiresAt(id, T0)) !== undefined) found.push(id);
      return found;
    }

    it('creates a session that every process finds with its expiry; an unknown one is not found', async () => {
      const { store, peer } = await open();
      await store.create('hash-a', T0 + HOUR);
      expect(await store.expiresAt('hash-a', T0)).toBe(T0 + HOUR);
      expect(await peer.expiresAt('hash-a', T0)).toBe(T0 + HOUR);
      expect(await peer.expiresAt('hash-none', T0)).toBeUndefined();
    });

    it('a session lives until its expiry, then is gone for good', async () => {
      const { store, peer } = await open();
      await store.create('hash-e', T0 + 1000);
      expect(await peer.expiresAt('hash-e', T0 + 999)).toBe(T0 + 1000);
      expect(await peer.expiresAt('hash-e', T0 + 1000)).toBeUndefined();
      // asked again with an earlier clock (another hub's), it does not come back
      expect(await store.expiresAt('hash-e', T0)).toBeUndefined();
    });

    it('extend moves the expiry for every process; it never creates a session', async () => {
      const { store, peer } = await open();
      await store.create('hash-x', T0 + 1000);
      await peer.extend('hash-x', T0 + 2 * HOUR);
      expect(await store.expiresAt('hash-x', T0 + HOUR)).toBe(T0 + 2 * HOUR);
      await store.extend('hash-unknown', T0 + HOUR);
      expect(await peer.expiresAt('hash-unknown', T0)).toBeUndefined();
    });

    it('delete ends a session for every process; deleting an unknown one is no error', async () => {
      const { store, peer } = await open();
      await store.create('hash-d', T0 + HOUR);
      await store.create('hash-keep', T0 + HOUR);
      await peer.delete('hash-d');
      expect(await store.expiresAt('hash-d', T0)).toBeUndefined();
      expect(await store.expiresAt('hash-keep', T0)).toBe(T0 + HOUR);
      await expect(store.delete('hash-d')).resolves.toBeUndefined();
    });

    it('creating an id that exists replaces its expiry', async () => {
      const { store, peer } = await open();
      await store.create('hash-r', T0 + HOUR);
      await peer.create('hash-r', T0 + 3 * HOUR);
      expect(await store.expiresAt('hash-r', T0)).toBe(T0 + 3 * HOUR);
    });

    it('keeps at most maxSessions, over all processes: the ones expiring first go', async () => {
      const { store, peer } = await open(3);
      const ids = ['s-1', 's-2', 's-3', 's-4', 's-5'];
      for (const [i, id] of ids.entries()) await (i % 2 ? peer : store).create(id, T0 + (i + 1) * HOUR);
      expect(await live(store, ids)).toEqual(['s-3', 's-4', 's-5']);
      // an extended session is not among the oldest any more
      await store.extend('s-3', T0 + 10 * HOUR);
      await peer.create('s-6', T0 + 6 * HOUR);
      expect(await live(peer, [...ids, 's-6'])).toEqual(['s-3', 's-5', 's-6']);
    });

    it('concurrent logins through several processes never leave more than maxSessions, and keep the newest', async () => {
      const { store, peer } = await open(5);
      const handles = [store, peer, await subject!.peer(), await subject!.peer()];
      const earlier: string[] = [];
      // several rounds: a race that needs luck to show shows in one of them
      for (let round = 0; round < 8; round++) {
        const ids = Array.from({ length: 16 }, (_, i) => `c-${round}-${String(i).padStart(2, '0')}`);
        // created in a shuffled order, so arrival order and expiry order differ; each round's
        // sessions expire after the last round's
        const order = ids.map((id, i) => ({ id, i, key: (i * 7) % 16 })).sort((a, b) => a.key - b.key);
        await Promise.all(order.map(({ id, i }, n) => handles[n % handles.length].create(id, T0 + round * HOUR + (i + 1) * 1000)));
        expect(await live(store, ids), `round ${round}`).toEqual(ids.slice(11));
        expect(await live(peer, earlier), `round ${round}`).toEqual([]);
        earlier.push(...ids);
      }
    });
  });
}
