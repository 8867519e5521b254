import { describe, expect, it } from 'vitest';
import { LineLengthGuard } from './line-length-guard.ts';

function run(max: number, chunks: string[]): Promise<string> {
  const guard = new LineLengthGuard(max);
  let out = '';
  guard.on('data', (d: Buffer) => (out += d.toString('latin1')));
  return new Promise((resolve) => {
    guard.on('end', () => resolve(out));
    for (const c of chunks) guard.write(Buffer.from(c, 'latin1'));
    guard.end();
  });
}

describe('LineLengthGuard', () => {
  it('passes lines within the limit untouched, across chunk boundaries', async () => {
    expect(await run(5, ['ab', 'c\nde', 'f\n', 'xy'])).toBe('abc\ndef\nxy');
  });
  it('cuts an over-long line at the limit and discards the rest of it', async () => {
    expect(await run(5, ['123456789', '0123\nok\n'])).toBe('123456\nok\n');
  });
  it('keeps memory bounded for endless noise without a newline', async () => {
    const out = await run(8, Array.from({ length: 1000 }, () => 'x'.repeat(1000)));
    expect(out).toBe('x'.repeat(9) + '\n');
  });
});
