// `npm run dead-letters -- list | replay <letter-id>... | replay --all` (see dead-letter-command.ts).
import { runDeadLetterCommand } from './dead-letter-command.ts';

const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
process.exitCode = await runDeadLetterCommand(process.argv.slice(2), process.env, write(process.stdout), write(process.stderr));
