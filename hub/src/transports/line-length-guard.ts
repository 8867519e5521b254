// Bounds what one serial line may occupy before the readline parser sees it: a line that grows
// past the limit is cut there (so it still arrives, and is refused as too large) and the rest of
// it, up to the next newline, is discarded. Binary noise without newlines cannot grow memory.
import { Transform, type TransformCallback } from 'node:stream';

const NEWLINE = 0x0a;

export class LineLengthGuard extends Transform {
  private lineLength = 0;
  private discarding = false;

  constructor(private readonly maxLineBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    const out: Buffer[] = [];
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === NEWLINE) {
        if (!this.discarding) out.push(chunk.subarray(start, i + 1));
        this.discarding = false;
        this.lineLength = 0;
        start = i + 1;
      } else if (!this.discarding && ++this.lineLength > this.maxLineBytes) {
        out.push(chunk.subarray(start, i + 1), Buffer.from('\n'));
        this.discarding = true;
      }
    }
    if (!this.discarding && start < chunk.length) out.push(chunk.subarray(start));
    done(null, out.length === 1 ? out[0] : Buffer.concat(out));
  }
}
