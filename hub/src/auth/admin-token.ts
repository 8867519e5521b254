import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MIN_ADMIN_TOKEN_LENGTH } from '../config.ts';
import { dataDirError, StartError } from '../start-error.ts';
import { generateToken } from './tokens.ts';

/**
 * The operator token: configured, or kept in the data dir; `created` says it was just generated
 * (and so has to be shown to whoever started the hub, once).
 */
export function loadAdminToken(dataDir: string, configured?: string): { token: string; created: boolean; file: string } {
  const file = join(dataDir, 'admin-token');
  if (configured) return { token: configured, created: false, file };
  try {
    if (existsSync(file)) {
      const token = readFileSync(file, 'utf8').trim();
      // An empty or truncated file must not become a token anyone could guess.
      if (token.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(token)) {
        throw new StartError(`${file} holds no usable operator token: delete it to have a new one generated, or set HUB_ADMIN_TOKEN`);
      }
      return { token, created: false, file };
    }
    const token = generateToken();
    writeFileSync(file, token + '\n', { mode: 0o600 });
    return { token, created: true, file };
  } catch (err) {
    if (err instanceof StartError) throw err;
    throw dataDirError(dataDir, file, err);
  }
}
