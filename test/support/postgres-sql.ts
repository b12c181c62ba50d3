// SQL on the embedded FerretDB's own PostgreSQL, through Debian's psql: the lookup indexes applied at
// every start (scripts/sql/ferretdb-lookup-indexes.sql), and plans and statements read by tests and
// the benchmark. Loopback only, as the postgres user (trust auth on 127.0.0.1).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export const LOOKUP_INDEXES_SQL = 'scripts/sql/ferretdb-lookup-indexes.sql';

const psqlArgs = (port: number) => ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-X', '-q', '-v', 'ON_ERROR_STOP=1'];

/** Runs a file of SQL; throws (with psql's message) if any statement fails. */
export function applySqlFile(bin: string, port: number, file: string): void {
  execFileSync(join(bin, 'psql'), [...psqlArgs(port), '-f', file], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
}

/** One query's rows, as unaligned text: one line per row, columns joined by `|`. */
export function sqlRows(bin: string, port: number, query: string): string[] {
  const out = execFileSync(join(bin, 'psql'), [...psqlArgs(port), '-A', '-t', '-c', query], { encoding: 'utf8', timeout: 300_000 });
  return out.split('\n').filter((line) => line !== '');
}
