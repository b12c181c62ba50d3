// Typed errors of the import command. Each carries a stable `code` and the exit code it ends the
// command with; messages name files, options, HTTP statuses and line numbers, never record values.

export class ImportError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode = 2) {
    super(message);
    this.name = 'ImportError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Wrong flags, unreadable input, a malformed file: the user has to change something. */
export const usageError = (message: string) => new ImportError('USAGE', message);
