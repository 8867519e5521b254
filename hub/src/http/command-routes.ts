import type { Hono } from 'hono';
import { commandView, CommandError, type CommandService } from '../commands/command-service.ts';
import type { CommandLog } from '../commands/command-log.ts';
import { HttpError } from './http-error.ts';

export function mountCommandRoutes(app: Hono, options: { commands: CommandService; commandLog: CommandLog; deviceExists(id: string): Promise<boolean> }): void {
  const mustExist = async (id: string) => {
    if (!(await options.deviceExists(id))) throw new HttpError('HUB_ERR_NOT_FOUND', `no device ${JSON.stringify(id)}`);
  };

  app.post('/api/devices/:id/commands', async (c) => {
    const id = c.req.param('id');
    await mustExist(id);
    const body = await c.req.json().catch(() => null);
    if (typeof body !== 'object' || body === null) throw new HttpError('HUB_ERR_BAD_REQUEST', 'body: {name, args, timeoutMs}');
    try {
      return c.json(commandView(await options.commands.submit(id, body)), 202);
    } catch (err) {
      if (err instanceof CommandError) throw new HttpError(err.code, err.message);
      throw err;
    }
  });

  app.get('/api/devices/:id/commands', async (c) => {
    const id = c.req.param('id');
    await mustExist(id);
    return c.json((await options.commandLog.recent(id, 50)).map(commandView));
  });

  app.get('/api/devices/:id/commands/:cid', async (c) => {
    const cid = Number(c.req.param('cid'));
    const command = Number.isSafeInteger(cid) ? await options.commandLog.get(cid) : undefined;
    if (!command || command.deviceId !== c.req.param('id')) throw new HttpError('HUB_ERR_NOT_FOUND', `no command ${c.req.param('cid')} for this device`);
    return c.json(commandView(command));
  });
}
