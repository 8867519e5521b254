// Device tokens for a simulation: reused from a tokens file, or provisioned through the hub's
// REST API with the operator token (and written back, so a restart reuses the same devices).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class ProvisionError extends Error {}

export interface OperatorTokenSources {
  /** --token */
  flag?: string;
  /** HUB_ADMIN_TOKEN */
  env?: string;
  /** --data-dir, else the hub's default data dir */
  dataDir: string;
}

/** The operator token and where it came from, or undefined when there is none. */
export function findOperatorToken(sources: OperatorTokenSources): { token: string; from: string } | undefined {
  if (sources.flag) return { token: sources.flag, from: '--token' };
  if (sources.env) return { token: sources.env, from: 'HUB_ADMIN_TOKEN' };
  const file = join(sources.dataDir, 'admin-token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return { token, from: file };
  }
  return undefined;
}

export function readTokensFile(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ProvisionError(`${path}: not JSON (${(err as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw new ProvisionError(`${path}: expected an object of device id → token strings`);
  }
  return parsed as Record<string, string>;
}

export function writeTokensFile(path: string, tokens: Record<string, string>): void {
  // write-then-rename: an interrupted run never leaves half a file (and tokens lost with it)
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(tokens, null, 2) + '\n', { mode: 0o600 });
  renameSync(temp, path);
}

export interface ProvisionOptions {
  hubUrl: string;
  ids: readonly string[];
  operatorToken?: { token: string; from: string };
  tokensFile?: string;
  /** on 409 for a device whose token is unknown: delete and recreate it */
  reprovision: boolean;
  /** requests in flight */
  concurrency?: number;
  log?: (line: string) => void;
}

interface ApiAnswer {
  status: number;
  body: { token?: string; error?: { code?: string; message?: string } } | null;
}

/** Tokens for every id: from the tokens file, else provisioned now. */
export async function provisionDevices(options: ProvisionOptions): Promise<Map<string, string>> {
  const { hubUrl, ids, tokensFile } = options;
  const known = tokensFile ? readTokensFile(tokensFile) : {};
  const tokens = new Map<string, string>();
  const missing: string[] = [];
  for (const id of ids) {
    if (known[id]) tokens.set(id, known[id]);
    else missing.push(id);
  }
  if (missing.length === 0) return tokens;
  const operator = options.operatorToken;
  if (!operator) {
    throw new ProvisionError(
      `${missing.length} device(s) have no token${tokensFile ? ` in ${tokensFile}` : ''} and there is no operator token to provision them: ` +
        'give --token, set HUB_ADMIN_TOKEN, or point --data-dir at the hub\'s data dir',
    );
  }

  async function api(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
    let res: Response;
    try {
      res = await fetch(hubUrl + path, {
        method,
        headers: { authorization: `Bearer ${operator!.token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ProvisionError(`cannot reach the hub at ${hubUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let parsed: ApiAnswer['body'] = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: the status says enough
    }
    if (res.status === 401) throw new ProvisionError(`the hub refused the operator token from ${operator!.from} (HTTP 401)`);
    return { status: res.status, body: parsed };
  }

  const conflicts: string[] = [];
  let created = 0;
  let unsaved = 0;
  const save = () => {
    if (!tokensFile || unsaved === 0) return;
    writeTokensFile(tokensFile, { ...readTokensFile(tokensFile), ...Object.fromEntries(tokens) });
    unsaved = 0;
  };

  async function provisionOne(id: string): Promise<void> {
    let answer = await api('POST', '/api/devices', { id });
    if (answer.status === 409) {
      if (!options.reprovision) {
        conflicts.push(id);
        return;
      }
      const deleted = await api('DELETE', `/api/devices/${encodeURIComponent(id)}`);
      if (deleted.status !== 204 && deleted.status !== 404) throw new ProvisionError(`delete ${id}: HTTP ${deleted.status} ${deleted.body?.error?.message ?? ''}`);
      answer = await api('POST', '/api/devices', { id });
    }
    if (answer.status !== 201 || !answer.body?.token) {
      throw new ProvisionError(`provision ${id}: HTTP ${answer.status} ${answer.body?.error?.code ?? ''} ${answer.body?.error?.message ?? ''}`.trim());
    }
    tokens.set(id, answer.body.token);
    created++;
    // every token written soon after it exists: a crash midway must not strand devices
    if (++unsaved >= 50) save();
  }

  let next = 0;
  let failed = false;
  const worker = async () => {
    try {
      while (next < missing.length && !failed) await provisionOne(missing[next++]);
    } catch (err) {
      failed = true; // the other workers stop at their next device
      throw err;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 16, missing.length) }, worker));
  } finally {
    save();
  }
  if (created) options.log?.(`provisioned ${created} device(s)${tokensFile ? `; tokens saved in ${tokensFile}` : ' (no --tokens-file: their tokens are not kept)'}`);
  if (conflicts.length) {
    // in id order: the workers finish in any order
    conflicts.sort();
    const shown = conflicts.slice(0, 5).join(', ') + (conflicts.length > 5 ? ` and ${conflicts.length - 5} more` : '');
    throw new ProvisionError(
      `${shown} already exist on the hub and their tokens are ${tokensFile ? `not in ${tokensFile}` : 'unknown (no --tokens-file)'}: ` +
        'pass the tokens file that provisioned them, choose another --prefix, or give --reprovision to delete and recreate them',
    );
  }
  return tokens;
}
