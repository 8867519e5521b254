// `npm run import-registry -- --from <data dir> --to <postgres url>`: moves a single-node hub's
// device registry (`<data dir>/registry.db`) into the PostgreSQL a cluster shares. Every device is
// copied as it is — id, name, token hash (so devices keep their tokens), transport, created_at,
// firmware, channels, last_seen and the resume point (session, acked_seq) — with the channel names
// it has declared. Readings stay where they are (the embedded store is not InfluxDB); the command
// log and dashboard sessions are not copied.
//
// Everything is written in one transaction, under the lock every device create of every hub takes,
// so a running cluster cannot create one of the ids halfway through, and a failure writes nothing.
// Ids that exist in PostgreSQL already are refused (nothing is written) unless --skip-existing
// says to leave those devices as they are and copy the rest; a re-run with it copies nothing twice.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { HUB_LOCK_CLASS, LOCKS, connectPostgres, migrate } from './postgres.ts';

export const IMPORT_USAGE = `npm run import-registry -- --from <data dir> --to <postgres url> [--skip-existing]

Copies a single-node hub's device registry (<data dir>/registry.db) into the PostgreSQL of a
cluster (the HUB_POSTGRES_URL its hubs use), bringing the schema up to date first. Devices keep
their ids, names, tokens (the hashes are copied), firmware, channels, last seen, resume points and
channel names. Stop the single-node hub first. Readings, commands and dashboard sessions are not
copied.

  --from DIR         the single-node hub's HUB_DATA_DIR
  --to URL           postgres://user:password@host:5432/database
  --skip-existing    leave devices whose id is already in PostgreSQL as they are and copy the
                     rest (without it, any such id stops the import before anything is written)
  --help             this text

Exit status: 0 imported (or nothing left to import), 1 refused or failed, 2 wrong arguments.
`;

export interface ImportOptions {
  from: string;
  to: string;
  skipExisting?: boolean;
}

export interface ImportResult {
  /** devices in registry.db */
  found: number;
  imported: string[];
  /** ids already in PostgreSQL: skipped with skipExisting, else the reason nothing was imported */
  existing: string[];
  /** ids whose token hash PostgreSQL already holds for another device (never imported) */
  tokenConflicts: string[];
  channelNames: number;
  /** false: refused, nothing written */
  done: boolean;
}

export class ImportUsageError extends Error {}

interface SqliteDevice {
  id: string;
  name: string;
  token_hash: string | null;
  transport: string;
  created_at: number;
  firmware: string | null;
  channels: string;
  last_seen: number | null;
  session: number | null;
  acked_seq: number;
}

const BATCH = 1000;
const str = (v: number | null) => (v === null ? null : String(v));

function readRegistry(dataDir: string): { devices: SqliteDevice[]; names: { device_id: string; name: string }[] } {
  const path = join(dataDir, 'registry.db');
  if (!existsSync(path)) throw new ImportUsageError(`${path} does not exist: --from takes the hub's data dir`);
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const devices = db.prepare(`SELECT id, name, token_hash, transport, created_at, firmware, channels, last_seen, session, acked_seq FROM devices ORDER BY id`).all() as SqliteDevice[];
    const hasNames = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'channel_names'`).get();
    const names = hasNames ? (db.prepare(`SELECT device_id, name FROM channel_names ORDER BY device_id, name`).all() as { device_id: string; name: string }[]) : [];
    return { devices, names };
  } finally {
    db.close();
  }
}

export async function importRegistry(options: ImportOptions): Promise<ImportResult> {
  const { devices, names } = readRegistry(options.from);
  const sql = connectPostgres(options.to, { max: 1, applicationName: 'telemetry-hub import-registry' });
  try {
    await migrate(sql);
    return await sql.begin(async (tx) => {
      // the lock every hub's device create takes: no id can be created between the check and the copy
      await tx`SELECT pg_advisory_xact_lock(${HUB_LOCK_CLASS}, ${LOCKS.deviceCreate})`;
      const ids = devices.map((d) => d.id);
      const existing = new Set((await tx<{ id: string }[]>`SELECT id FROM devices WHERE id = ANY(${ids}::text[])`).map((r) => r.id));
      const result: ImportResult = {
        found: devices.length, imported: [], existing: ids.filter((id) => existing.has(id)), tokenConflicts: [], channelNames: 0, done: false,
      };
      if (existing.size > 0 && !options.skipExisting) return result;
      const candidates = devices.filter((d) => !existing.has(d.id));
      const hashes = candidates.map((d) => d.token_hash).filter((h): h is string => h !== null);
      const taken = new Set((await tx<{ token_hash: string }[]>`SELECT token_hash FROM devices WHERE token_hash = ANY(${hashes}::text[])`).map((r) => r.token_hash));
      result.tokenConflicts = candidates.filter((d) => d.token_hash !== null && taken.has(d.token_hash)).map((d) => d.id);
      if (result.tokenConflicts.length > 0) return result;

      for (let i = 0; i < candidates.length; i += BATCH) {
        const batch = candidates.slice(i, i + BATCH);
        await tx`
          INSERT INTO devices (id, name, token_hash, transport, created_at, firmware, channels, last_seen, session, acked_seq)
          SELECT * FROM unnest(
            ${batch.map((d) => d.id)}::text[], ${batch.map((d) => d.name)}::text[], ${batch.map((d) => d.token_hash)}::text[],
            ${batch.map((d) => d.transport)}::text[], ${batch.map((d) => String(d.created_at))}::bigint[],
            ${batch.map((d) => d.firmware)}::text[], ${batch.map((d) => d.channels)}::jsonb[],
            ${batch.map((d) => str(d.last_seen))}::bigint[], ${batch.map((d) => str(d.session))}::bigint[],
            ${batch.map((d) => String(d.acked_seq))}::bigint[])`;
      }
      const copied = new Set(candidates.map((d) => d.id));
      const newNames = names.filter((n) => copied.has(n.device_id));
      for (let i = 0; i < newNames.length; i += BATCH) {
        const batch = newNames.slice(i, i + BATCH);
        await tx`
          INSERT INTO channel_names (device_id, name)
          SELECT * FROM unnest(${batch.map((n) => n.device_id)}::text[], ${batch.map((n) => n.name)}::text[])
          ON CONFLICT DO NOTHING`;
      }
      result.imported = candidates.map((d) => d.id);
      result.channelNames = newNames.length;
      result.done = true;
      return result;
    });
  } finally {
    await sql.end({ timeout: 5 }).catch(() => undefined);
  }
}

export function parseImportArgs(argv: readonly string[]): ImportOptions | 'help' {
  let from: string | undefined;
  let to: string | undefined;
  let skipExisting = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--help':
      case '-h':
        return 'help';
      case '--from': from = argv[++i]; break;
      case '--to': to = argv[++i]; break;
      case '--skip-existing': skipExisting = true; break;
      default: throw new ImportUsageError(`unknown argument ${flag}`);
    }
  }
  if (!from) throw new ImportUsageError('--from <data dir> is required');
  if (!to) throw new ImportUsageError('--to <postgres url> is required');
  if (!/^postgres(ql)?:\/\//.test(to)) throw new ImportUsageError(`--to ${to}: expected postgres://user:password@host:5432/database`);
  return { from: resolve(from), to, skipExisting };
}

/** The URL without its password, for printing. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(the given URL)';
  }
}

const list = (ids: readonly string[], max = 20) => ids.slice(0, max).join(', ') + (ids.length > max ? ` … (${ids.length - max} more)` : '');

export function summary(options: ImportOptions, r: ImportResult): string {
  const where = `from ${join(options.from, 'registry.db')} into ${safeUrl(options.to)}`;
  if (r.tokenConflicts.length > 0) {
    return `import-registry: refused, nothing written: PostgreSQL holds the token of ${r.tokenConflicts.length} of these devices under another id: ${list(r.tokenConflicts)}\n`;
  }
  if (!r.done) {
    return `import-registry: refused, nothing written: ${r.existing.length} of ${r.found} device ids exist in PostgreSQL already: ${list(r.existing)}\n`
      + `  run again with --skip-existing to leave those as they are and copy the others\n`;
  }
  return `import-registry: ${where}\n`
    + `  ${r.found} devices found, ${r.imported.length} imported (${r.channelNames} channel names)`
    + (r.existing.length ? `, ${r.existing.length} skipped because their id exists already: ${list(r.existing)}` : '')
    + '\n';
}

async function main(argv: readonly string[]): Promise<number> {
  let options: ImportOptions;
  try {
    const parsed = parseImportArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(IMPORT_USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    if (!(err instanceof ImportUsageError)) throw err;
    process.stderr.write(`import-registry: ${err.message}\n\n${IMPORT_USAGE}`);
    return 2;
  }
  try {
    const result = await importRegistry(options);
    const text = summary(options, result);
    (result.done ? process.stdout : process.stderr).write(text);
    return result.done ? 0 : 1;
  } catch (err) {
    process.stderr.write(`import-registry: ${(err as Error).message}\n`);
    return err instanceof ImportUsageError ? 2 : 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
