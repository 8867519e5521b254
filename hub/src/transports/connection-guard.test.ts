import { describe, expect, it } from 'vitest';
import { ConnectionGuard } from './connection-guard.ts';

function guard() {
  let now = 1_000_000;
  const g = new ConnectionGuard({ maxConnectionsPerIp: 2, maxAuthFailures: 3, failureWindowMs: 1000, backoffMs: 100, maxBackoffMs: 400, now: () => now });
  return { g, advance: (ms: number) => (now += ms) };
}

describe('ConnectionGuard', () => {
  it('limits open connections per address and frees them on close', () => {
    const { g } = guard();
    const close = g.opened('10.0.0.1');
    g.opened('10.0.0.1');
    expect(g.check('10.0.0.1')).toBe('HUB_ERR_TOO_MANY_CONNECTIONS');
    expect(g.check('10.0.0.2')).toBeNull();
    close();
    close(); // closing twice counts once
    expect(g.check('10.0.0.1')).toBeNull();
  });

  it('backs off an address after repeated auth failures, doubling up to the cap, without touching others', () => {
    const { g, advance } = guard();
    for (let i = 0; i < 3; i++) g.authFailed('10.0.0.9');
    expect(g.check('10.0.0.9')).toBe('HUB_ERR_TOO_MANY_ATTEMPTS');
    expect(g.check('10.0.0.1')).toBeNull();
    advance(101);
    expect(g.check('10.0.0.9')).toBeNull();
    for (let i = 0; i < 3; i++) g.authFailed('10.0.0.9');
    advance(150);
    expect(g.check('10.0.0.9')).toBe('HUB_ERR_TOO_MANY_ATTEMPTS'); // 200 ms now
    advance(60);
    expect(g.check('10.0.0.9')).toBeNull();
    for (let round = 0; round < 5; round++) for (let i = 0; i < 3; i++) g.authFailed('10.0.0.9');
    advance(399);
    expect(g.check('10.0.0.9')).toBe('HUB_ERR_TOO_MANY_ATTEMPTS');
    advance(2);
    expect(g.check('10.0.0.9')).toBeNull();
  });

  it('forgets idle addresses', () => {
    const { g, advance } = guard();
    g.authFailed('10.0.0.3');
    g.opened('10.0.0.4')();
    expect(g.trackedAddresses).toBe(1);
    advance(2000);
    g.prune();
    expect(g.trackedAddresses).toBe(0);
  });
});
