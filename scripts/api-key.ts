// Makes a new API key and the config entry that goes with it. The key is shown once and never
// stored: API_KEYS holds only its SHA-256.
//   node scripts/api-key.ts <id> <scope,scope> [centers=3,4] [clusters=2]
//   e.g. node scripts/api-key.ts center-3 patients:write,patients:read centers=3
import { createHash, randomBytes } from 'node:crypto';

const [id, scopes = 'patients:write', ...rest] = process.argv.slice(2);
if (!id) {
  process.stderr.write('usage: node scripts/api-key.ts <id> <scope,scope> [centers=1,2] [clusters=1]\n');
  process.exit(2);
}
const list = (name: string) => rest.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1).split(',').filter(Boolean).map(Number) ?? [];
const key = `hk_${randomBytes(32).toString('base64url')}`;
const entry = { id, sha256: createHash('sha256').update(key).digest('hex'), scopes: scopes.split(','), centers: list('centers'), clusters: list('clusters') };
process.stdout.write(`${JSON.stringify({ key, entry })}\n`);
process.stderr.write(`Give the key to the client once (it is not stored anywhere):\n  ${key}\nAdd this entry to the API_KEYS JSON array:\n  ${JSON.stringify(entry)}\n`);
