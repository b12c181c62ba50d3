// `npm run migrate-keys [-- --batch N]`: moves patient documents stored under the numeric id to
// patientKey(center_id, id) (see migrate-keys.ts).
import { runMigrateKeys } from './migrate-keys.ts';

const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
process.exitCode = await runMigrateKeys(process.argv.slice(2), process.env, write(process.stdout), write(process.stderr));
