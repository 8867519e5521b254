// [FP-4.5.2] The built-in commands as the simulator runs them: set-rate really changes the
// device's rate and reboot really reboots it. WebSocket fleet and serial device share this.
import type { CommandFrame } from '../../hub/src/protocol/index.ts';
import { builtInCommand, parseRate, type CommandAnswer } from './device-core.ts';

export const MAX_RATE = 1000;
export const REBOOT_DELAY_MS = 1000;

export interface SimActions {
  /** applies a new rate (frames per second); returns the previous one */
  setRate(hz: number): number;
  /** reboots the device; called after the answer is on its way */
  reboot(): void;
}

export function answerCommand(command: CommandFrame, actions: SimActions): CommandAnswer {
  switch (command.name) {
    case 'set-rate': {
      const hz = parseRate(command.args);
      if (typeof hz !== 'number') return { status: 'failed', payload: JSON.stringify(hz) };
      if (hz > MAX_RATE) return { status: 'failed', payload: JSON.stringify({ error: `hz above ${MAX_RATE}` }) };
      const previous = actions.setRate(hz);
      return { status: 'succeeded', payload: JSON.stringify({ hz, previous }) };
    }
    case 'reboot':
      // the result must be on the wire before the connection or session goes
      setImmediate(() => actions.reboot());
      return { status: 'succeeded', payload: JSON.stringify({ rebootInMs: REBOOT_DELAY_MS }) };
    default:
      return builtInCommand(command);
  }
}
