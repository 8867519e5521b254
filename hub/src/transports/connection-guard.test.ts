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
    expect(g.tooManyConnections('10.0.0.1')).toBe(true);
    expect(g.tooManyConnections('10.0.0.2')).toBe(false);
    close();
    close(); // closing twice counts once
    expect(g.tooManyConnections('10.0.0.1')).toBe(false);
  });

  it('counts device connections opened and closed in pairs, never below zero', () => {
    const { g } = guard();
    g.connectionOpened('10.0.0.1');
    const close = g.opened('10.0.0.1');
    expect(g.tooManyConnections('10.0.0.1')).toBe(true);
    g.connectionClosed('10.0.0.1');
    expect(g.tooManyConnections('10.0.0.1')).toBe(false);
    close();
    g.connectionClosed('10.0.0.1'); // more closes than opens
    g.connectionOpened('10.0.0.1');
    expect(g.tooManyConnections('10.0.0.1')).toBe(false);
    g.connectionClosed('10.0.0.1');
    expect(g.trackedAddresses).toBe(0);
  });

  it('backs off an address after repeated auth failures, doubling up to the cap, without touching others', () => {
    const { g, advance } = guard();
    for (let i = 0; i < 3; i++) g.authFailed('10.0.0.9');
    expect(g.backingOff('10.0.0.9')).toBe(true);
    expect(g.backingOff('10.0.0.1')).toBe(false);
    advance(101);
    expect(g.backingOff('10.0.0.9')).toBe(false);
    for (let i = 0; i < 3; i++) g.authFailed('10.0.0.9');
    advance(150);
    expect(g.backingOff('10.0.0.9')).toBe(true); // 200 ms now
    advance(60);
    expect(g.backingOff('10.0.0.9')).toBe(false);
    for (let round = 0; round < 5; round++) for (let i = 0; i < 3; i++) g.authFailed('10.0.0.9');
    advance(399);
    expect(g.backingOff('10.0.0.9')).toBe(true);
    advance(2);
    expect(g.backingOff('10.0.0.9')).toBe(false);
  });

  it('answers failures 401 until the backoff starts, then 429 without counting them, so the backoff ends on time', () => {
    const { g, advance } = guard();
    expect([1, 2, 3].map(() => g.authFailed('10.0.0.7'))).toEqual(['HUB_ERR_UNAUTHORIZED', 'HUB_ERR_UNAUTHORIZED', 'HUB_ERR_UNAUTHORIZED']);
    for (let i = 0; i < 50; i++) expect(g.authFailed('10.0.0.7')).toBe('HUB_ERR_TOO_MANY_ATTEMPTS');
    advance(101);
    expect(g.backingOff('10.0.0.7')).toBe(false);
    expect(g.authFailed('10.0.0.7')).toBe('HUB_ERR_UNAUTHORIZED');
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
