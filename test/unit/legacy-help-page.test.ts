import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PATIENT_FIELDS, PATIENT_FIELD_NAMES } from '../../src/shared/patient/patient-fields.ts';

// The old endpoint's help page (docs/legacy-POST-api-patients.help.txt) is the contract .NET clients
// were written against: the field table must keep its names, order and types.
const page = readFileSync(resolve(import.meta.dirname, '../../docs/legacy-POST-api-patients.help.txt'), 'utf8');
const KIND = { integer: 'integer', 'signed byte': 'signedByte', date: 'date', string: 'string' } as const;

describe('the legacy help page', () => {
  it('when its request and response tables are read, then the field table has the same names, in order, with the same types', () => {
    const rows = [...page.matchAll(/^\| (\w+) \| (integer|signed byte|date|string) \|/gm)].map((m) => [m[1]!, KIND[m[2] as keyof typeof KIND]] as const);
    expect(rows.length).toBe(2 * PATIENT_FIELD_NAMES.length); // the body parameters, then the response
    for (const table of [rows.slice(0, rows.length / 2), rows.slice(rows.length / 2)]) {
      expect(table.map(([name]) => name)).toEqual(PATIENT_FIELD_NAMES);
      expect(Object.fromEntries(table)).toEqual(PATIENT_FIELDS);
    }
  });
});
