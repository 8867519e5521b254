import { describe, expect, it } from 'vitest';
import type { DeviceLink } from '../ingest/device-link.ts';
import { createLocalLiveBus } from '../live/live-bus.ts';
import { createLocalPresence } from './local-presence.ts';
import { presenceContract } from './presence-contract.ts';

presenceContract('single-node', async (live) => ({ presence: createLocalPresence({ live }), close: async () => {} }));

describe('single-node seen()', () => {
  const link = (): DeviceLink => ({ transport: 'ws', send: () => undefined, end: () => undefined });

  it('reads the clock once per turn of the event loop, and again in the next', async () => {
    let clock = 1000;
    const presence = createLocalPresence({ live: createLocalLiveBus(), now: () => clock });
    await presence.connect('a', link(), { firmware: '', channels: [] });
    await presence.connect('b', link(), { firmware: '', channels: [] });
    clock = 2000;
    presence.seen('a');
    clock = 2001;
    presence.seen('b');
    expect((await presence.get('a'))!.lastSeen).toBe(2000);
    expect((await presence.get('b'))!.lastSeen).toBe(2000);
    await new Promise((resolve) => setImmediate(resolve));
    clock = 3000;
    presence.seen('b');
    expect((await presence.get('b'))!.lastSeen).toBe(3000);
  });

  it('a device forgotten and seen again is updated in its new entry, not the one it last looked up', async () => {
    let clock = 1000;
    const presence = createLocalPresence({ live: createLocalLiveBus(), now: () => clock });
    await presence.connect('a', link(), { firmware: '', channels: [] });
    presence.seen('a');
    await presence.forget('a');
    presence.seen('a');
    expect(await presence.get('a')).toBeUndefined();
    await new Promise((resolve) => setImmediate(resolve));
    await presence.connect('a', link(), { firmware: '', channels: [] });
    clock = 5000;
    await new Promise((resolve) => setImmediate(resolve));
    presence.seen('a');
    expect((await presence.get('a'))!.lastSeen).toBe(5000);
  });
});
