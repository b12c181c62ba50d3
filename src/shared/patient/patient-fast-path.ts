import { parseDotnetDate } from './dotnet-date.ts';
import { PATIENT_FIELDS, PATIENT_FIELD_NAMES, RANGES, type FieldKind, type Patient } from './patient-fields.ts';

// The zod schema (patient-schema.ts) is THE contract. Running it costs tens of µs per record
// (a preprocess chain per field), which capped intake. This is a table-driven pass for the shape
// nearly every client sends: plain JSON numbers, strings and dates, each field named once. It
// answers the record exactly as the zod schema would (a property test holds the two together:
// test/unit/patient-fast-path.test.ts), or `undefined` for ANYTHING else (digit strings, empty
// form values, a bad value, a duplicate name…), which then goes through zod for its verdict and
// its precise error messages.

export type FastRules = { timeZone: string; maxStringLength: number; maxFutureMs?: number; centerClusters?: ReadonlyMap<number, number> };

// Same rules as patient-schema.ts: C0/C1 control characters except tab and LF; CR only before LF.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]|\r(?!\n)/;
const LOWER_TO_FIELD = new Map<string, string>(PATIENT_FIELD_NAMES.map((name) => [name.toLowerCase(), name]));
const KINDS: readonly FieldKind[] = PATIENT_FIELD_NAMES.map((name) => PATIENT_FIELDS[name]);
const INDEX = new Map<string, number>(PATIENT_FIELD_NAMES.map((name, i) => [name, i]));
const FIELD_COUNT = PATIENT_FIELD_NAMES.length;
const MODIFY_TIME = INDEX.get('modify_time')!;
const CENTER_ID = INDEX.get('center_id')!;
const CLUSTER_ID = INDEX.get('cluster_id')!;
/** Marks "this value needs the full schema". */
const SLOW = Symbol('slow');

export function createFastPath({ timeZone, maxStringLength, maxFutureMs, centerClusters }: FastRules) {
  const value = (kind: FieldKind, v: unknown): unknown => {
    if (v === null) return null;
    switch (kind) {
      case 'integer':
      case 'signedByte': {
        const { min, max } = RANGES[kind];
        return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? (v === 0 ? 0 : v) : SLOW;
      }
      case 'date': {
        if (typeof v !== 'string' || v === '') return SLOW;
        const parsed = parseDotnetDate(v, timeZone);
        return parsed.ok ? parsed.value : SLOW;
      }
      case 'string':
        return typeof v === 'string' && v.length <= maxStringLength && !CONTROL.test(v) && v.isWellFormed() ? v : SLOW;
    }
  };

  /** The validated patient, or undefined when only the full schema may judge this input. */
  return function fastParse(input: unknown): Patient | undefined {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) return undefined;
    const values: unknown[] = new Array(FIELD_COUNT).fill(null);
    const seen: boolean[] = new Array(FIELD_COUNT).fill(false);
    for (const key of Object.keys(input)) {
      const v = (input as Record<string, unknown>)[key];
      let i = INDEX.get(key);
      if (i === undefined) {
        const field = LOWER_TO_FIELD.get(key.toLowerCase());
        if (field === undefined) continue; // unknown keys are ignored, as ASP.NET did
        i = INDEX.get(field)!;
      }
      if (seen[i]) return undefined; // the same name twice (in two cases): zod's path reports it
      seen[i] = true;
      if (v === undefined) continue;
      const checked = value(KINDS[i]!, v);
      if (checked === SLOW) return undefined;
      values[i] = checked;
    }
    const id = values[0];
    if (typeof id !== 'number' || id < 1) return undefined;
    // The intake's own rules (patient-schema.ts): anything they might refuse goes to zod.
    if (maxFutureMs !== undefined && values[MODIFY_TIME] instanceof Date && values[MODIFY_TIME].getTime() > Date.now() + maxFutureMs) return undefined;
    if (centerClusters && centerClusters.size > 0 && values[CLUSTER_ID] != null && values[CENTER_ID] != null && centerClusters.get(values[CENTER_ID] as number) !== values[CLUSTER_ID]) return undefined;
    const patient: Record<string, unknown> = {};
    for (let i = 0; i < FIELD_COUNT; i++) patient[PATIENT_FIELD_NAMES[i]!] = values[i];
    return patient as Patient;
  };
}
