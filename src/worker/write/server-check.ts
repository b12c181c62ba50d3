import type { Db } from 'mongodb';
import type { Config } from '../../shared/config/config.ts';

// What the server is, asked once at start before any job is taken. The write path is made for two
// servers: MongoDB 6 or later (one atomic guarded replace, retryable writes, majority reads) and the
// embedded FerretDB (write-strategy.ts). Anything else would be written to as if it were one of them,
// so it is refused, and so is a numeric `w` the replica set can never satisfy (it would fail every
// write with code 100 after the wait).

export type WriteConcern = Config['MONGO_WRITE_CONCERN'];
export type ServerKind = 'mongodb' | 'ferretdb';

/** The server is not one the write path may write to, or cannot satisfy the configured write concern. */
export class ServerRefusedError extends Error {
  readonly code = 'MONGO_SERVER_REFUSED';
  /** The configuration variable to change, when the refusal is about one. */
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(message);
    this.name = 'ServerRefusedError';
    this.variable = variable;
  }
}

const MIN_MONGODB_MAJOR = 6;

export async function checkServer(db: Db, w: WriteConcern): Promise<ServerKind> {
  const admin = db.admin();
  const build = await admin.command({ buildInfo: 1 });
  if (typeof build.ferretdbVersion === 'string') return 'ferretdb';
  const version = typeof build.version === 'string' ? build.version : 'unknown';
  const major = Number(/^(\d+)\./.exec(version)?.[1]);
  if (!(major >= MIN_MONGODB_MAJOR)) {
    throw new ServerRefusedError('MONGO_URL', `the server is MongoDB ${version.slice(0, 20)}: MongoDB ${MIN_MONGODB_MAJOR}.0 or later (or the embedded FerretDB) is needed`);
  }
  if (typeof w === 'number' && w > 1) {
    const members = await dataBearingMembers(db);
    if (members < w) throw new ServerRefusedError('MONGO_WRITE_CONCERN', `is ${w}, but the server has ${members} data-bearing member${members === 1 ? '' : 's'}`);
  }
  return 'mongodb';
}

/**
 * Members that can acknowledge a write: the replica set's configuration when this user may read it
 * (hidden and priority-0 members count), else what `hello` lists (hosts and passives; hidden members
 * are not listed there, so the count can only be too low when the config cannot be read).
 */
async function dataBearingMembers(db: Db): Promise<number> {
  const admin = db.admin();
  const hello = await admin.command({ hello: 1 });
  if (typeof hello.setName !== 'string') return 1; // a standalone: w > 1 can never be satisfied
  try {
    const { config } = await admin.command({ replSetGetConfig: 1 });
    const members = (config as { members?: { arbiterOnly?: boolean }[] } | undefined)?.members;
    if (Array.isArray(members)) return members.filter((m) => m.arbiterOnly !== true).length;
  } catch {
    // Not allowed to read the configuration: what hello lists.
  }
  const listed = (key: string) => (Array.isArray(hello[key]) ? (hello[key] as unknown[]).length : 0);
  return listed('hosts') + listed('passives');
}
