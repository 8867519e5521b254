// How the hub process stops on SIGINT/SIGTERM: once, completely, and within a bound.
//
// The first signal starts the hub's graceful stop. Later signals do not interrupt it: a Ctrl-C in
// a terminal reaches the hub twice (from the terminal and forwarded by npm), and a supervisor may
// repeat SIGTERM; cutting the stop short there would leave readings unacknowledged and sessions
// open. A stop that has not finished after `timeoutMs` ends the process with code 1 and a log line.
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
export const STOP_TIMEOUT_MS = 10_000;

export interface StopOnSignalsOptions {
  /** the graceful stop */
  close(): Promise<void>;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  exit(code: number): void;
  timeoutMs?: number;
  /** where the signals arrive; `process` unless a test passes its own emitter */
  signals?: Pick<EventEmitter, 'on'>;
}

export function stopOnSignals(options: StopOnSignalsOptions): void {
  const { log, exit } = options;
  const timeoutMs = options.timeoutMs ?? STOP_TIMEOUT_MS;
  const signals = options.signals ?? process;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'already stopping; the stop goes on');
      return;
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    // Not unref'd: a stop that hangs on something without a handle must still end the process.
    const timer = setTimeout(() => {
      log.error({ timeoutMs }, `did not stop within ${timeoutMs / 1000} s; exiting`);
      exit(1);
    }, timeoutMs);
    options.close().then(
      () => {
        clearTimeout(timer);
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        log.error({ err }, 'unclean stop');
        exit(1);
      },
    );
  };
  for (const signal of STOP_SIGNALS) signals.on(signal, onSignal);
}
