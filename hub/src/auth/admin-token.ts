import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateToken } from './tokens.ts';

/** The operator token: configured, or kept in the data dir; `created` says it was just generated. */
export function loadAdminToken(dataDir: string, configured?: string): { token: string; created: boolean } {
  if (configured) return { token: configured, created: false };
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), created: false };
  const token = generateToken();
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return { token, created: true };
}
