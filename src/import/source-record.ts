// What every format reader yields, apart from the source that feeds the readers (no import cycle).
import type { FieldIssue } from '../shared/patient/patient-schema.ts';

/** One record of the input: its JSON text for the API, or the reason it cannot be sent at all. */
export type SourceRecord = { line: number; json: string } | { line: number; errors: FieldIssue[]; original: unknown };

export type ReaderOptions = { csvNull?: string | undefined; warn: (message: string) => void };
