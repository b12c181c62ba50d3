import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

// Paths that could ever carry patient values or credentials are censored, as a second line of
// defence: the code itself logs ids, counts, paths and timings only.
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'body',
  'req.body',
  'patient',
  'data',
  'job.data',
  'err.input',
  'err.issues[*].input',
];

export function createLogger(options: { level: string; name: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      level: options.level,
      name: options.name,
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
