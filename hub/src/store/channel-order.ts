// Stores must agree on result order. SQLite's BINARY collation and InfluxDB both compare UTF-8 bytes,
// which is code point order; JavaScript's `<` compares UTF-16 units and would put emoji before U+E000–U+FFFF.

export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    // a pair that matched as one code point: skip its low half too
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

export function compareChannelThenTime(a: { channel: string; time: number }, b: { channel: string; time: number }): number {
  return compareCodePoints(a.channel, b.channel) || a.time - b.time;
}
