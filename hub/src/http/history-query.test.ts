import { describe, expect, it } from 'vitest';
import { parseDuration, parseHistoryParams, queryTooLarge } from './history-query.ts';
import { HttpError } from './http-error.ts';

const opts = { now: 1_700_000_000_000, maxPoints: 1000 };
const parse = (qs: string) => parseHistoryParams('d', new URLSearchParams(qs), opts);
function codeOf(qs: string): string {
  try {
    parse(qs);
    return 'ok';
  } catch (err) {
    return err instanceof HttpError ? err.code : String(err);
  }
}

describe('history query parameters', () => {
  it('defaults to the last hour, raw points, JSON', () => {
    expect(parse('')).toEqual({ format: 'json', query: { deviceId: 'd', channel: undefined, from: opts.now - 3_600_000, to: opts.now, every: undefined, agg: undefined, limit: 1000 } });
  });
  it('takes ISO and epoch times, windows and aggregates', () => {
    const { query, format } = parse('from=2023-11-14T22:00:00Z&to=1700000000000&every=1m&agg=max&channel=t&format=csv');
    expect(query).toMatchObject({ from: Date.UTC(2023, 10, 14, 22), to: 1_700_000_000_000, every: 60_000, agg: 'max', channel: 't' });
    expect(format).toBe('csv');
    expect(parse('from=0&to=60000&every=10s').query.agg).toBe('mean');
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('0s')).toBeUndefined();
  });
  it('answers bad parameters with HUB_ERR_BAD_REQUEST', () => {
    for (const qs of ['from=yesterday', 'from=10&to=5', 'every=5x', 'agg=median&every=1s', 'agg=max', 'format=xml', 'limit=0', 'limit=5000']) {
      expect(codeOf(qs), qs).toBe('HUB_ERR_BAD_REQUEST');
    }
  });
  it('answers out-of-range numbers with HUB_ERR_BAD_REQUEST, never letting them reach a store or a Date', () => {
    for (const qs of [
      'to=99999999999999999999',
      'from=-1e30',
      'from=-99999999999999999999&to=0',
      'to=8640000000000001',
      'from=-8640000000000001&to=0',
      'to=-8640000000000000',
      'from=0&to=86400000&every=99999999999999999999d',
      'from=0&to=86400000&every=36501d',
      'from=0&to=86400000&every=9007199254740993ms',
      'limit=1e400',
      'limit=99999999999999999999',
      'limit=1.5',
      'limit=-1',
      `to=${'9'.repeat(400)}`,
    ]) {
      expect(codeOf(qs), qs).toBe('HUB_ERR_BAD_REQUEST');
    }
  });
  it('takes the edges of what a Date can hold and the longest window', () => {
    expect(parse('from=-8640000000000000&to=8640000000000000').query).toMatchObject({ from: -8.64e15, to: 8.64e15 });
    expect(parse('from=0&to=1000000000000&every=36500d').query).toMatchObject({ every: 36_500 * 86_400_000, agg: 'mean' });
    expect(parse('to=%2B275760-09-13T00:00:00.000Z').query.to).toBe(8.64e15);
  });
  it('refuses more windows than a response may hold', () => {
    expect(codeOf('from=0&to=86400000&every=1s')).toBe('HUB_ERR_TOO_MANY_POINTS');
  });
  it('answers a query the store stopped past its bound on points read with 422 HUB_ERR_QUERY_TOO_LARGE', () => {
    const err = queryTooLarge(20_000_000);
    expect(err.toJSON().error.code).toBe('HUB_ERR_QUERY_TOO_LARGE');
    expect(err.status).toBe(422);
    expect(err.message).toContain('20000000');
  });
});
