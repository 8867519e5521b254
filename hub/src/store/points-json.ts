// A history answer's points as JSON text, written out by hand: in a store's reader thread this
// keeps the event loop, which every device's ACK passes through, free of a 15–20 ms
// JSON.stringify per 50,000-point answer. The text is what JSON.stringify gives for the same
// points ({channel, time, value} in that order).
import type { ReadingPoint } from './store.ts';

export function pointsJson(points: readonly ReadingPoint[]): string {
  const parts = new Array<string>(points.length);
  let lastChannel: string | undefined;
  let channelText = '';
  for (let i = 0; i < points.length; i++) {
    const { channel, time, value } = points[i];
    // points come ordered by channel: its quoted name is made once per channel
    if (channel !== lastChannel) {
      lastChannel = channel;
      channelText = `{"channel":${JSON.stringify(channel)},"time":`;
    }
    parts[i] = `${channelText}${JSON.stringify(time)},"value":${JSON.stringify(value)}}`;
  }
  return `[${parts.join(',')}]`;
}
