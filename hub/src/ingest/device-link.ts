import type { ErrorName, Frame } from '../protocol/index.ts';

/** What ingest needs of a transport's connection: send frames, and end the session on an error. */
export interface DeviceLink {
  readonly transport: 'ws' | 'serial';
  /**
   * [FP-4.1.5] the largest frame the device can receive, from its latest HELLO on this link;
   * undefined or 0: the protocol maximum. Commands that would be larger are not sent.
   */
  maxFrame?: number;
  send(frame: Frame): void;
  /**
   * Ends the protocol session after an ERROR frame was sent. A WebSocket closes with the error's
   * close code [FP-9]; a serial port stays open and waits for a new HELLO [FP-6.2].
   */
  end(reason: ErrorName): void;
}
