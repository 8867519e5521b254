// The child side of the bench's parent ↔ child protocol: requests over the IPC channel, answered
// in order of completion. A child must never outlive the bench, so losing the parent ends it.
import { inspect } from 'node:util';

export type RpcHandler = (params: any) => unknown;

interface Request {
  id: number;
  method: string;
  params: unknown;
}

export function serveRpc(handlers: Record<string, RpcHandler>): void {
  if (!process.send) throw new Error('this script runs as a bench child (with an IPC channel), not on its own');
  process.on('message', async (message: Request) => {
    const handler = handlers[message.method];
    try {
      if (!handler) throw new Error(`no method ${message.method}`);
      const result = await handler(message.params);
      process.send!({ id: message.id, result });
    } catch (err) {
      process.send!({ id: message.id, error: err instanceof Error ? (err.stack ?? err.message) : inspect(err) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/** Tells the parent the child is up, with whatever it needs to know (URLs, ports). */
export function announce(data: unknown): void {
  process.send!({ event: 'ready', data });
}

/** A fatal start-up error, reported to the parent before exiting. */
export function failStart(err: unknown): never {
  const text = err instanceof Error ? (err.stack ?? err.message) : inspect(err);
  process.stderr.write(`${text}\n`);
  process.send?.({ event: 'failed', data: text }, () => process.exit(1));
  setTimeout(() => process.exit(1), 1000);
  throw err;
}
