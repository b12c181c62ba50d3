// The patient record exactly as the ASP.NET help page of `POST api/patients` lists it
// (docs/legacy-POST-api-patients.help.txt). Order matters: responses follow it.

export type FieldKind = 'integer' | 'signedByte' | 'date' | 'string';

export const PATIENT_FIELDS = {
  id: 'integer',
  cluster_id: 'integer',
  center_id: 'integer',
  create_time: 'date',
  modify_time: 'date',
  modify_by: 'integer',
  record_status_id: 'signedByte',
  isactive: 'signedByte',
  person_id: 'integer',
  order: 'integer',
  fullname: 'string',
  welfare_detail_id: 'integer',
  hn: 'string',
  hn_owner: 'string',
  total_hd: 'integer',
  followup_date: 'date',
  status_id: 'signedByte',
  dialyzer1_id: 'integer',
  dialyzer2_id: 'integer',
  doctor1_id: 'integer',
  doctor2_id: 'integer',
  trt_no: 'string',
  med_sup_role_id: 'integer',
  trt_patient_id: 'string',
  trt_cn: 'string',
} as const satisfies Record<string, FieldKind>;

export type PatientField = keyof typeof PATIENT_FIELDS;
export const PATIENT_FIELD_NAMES = Object.keys(PATIENT_FIELDS) as PatientField[];

type ValueOf<K extends FieldKind> = K extends 'date' ? Date | null : K extends 'string' ? string | null : number | null;

/** A validated patient: every field present, `null` where the client sent none. */
export type Patient = { id: number } & {
  -readonly [F in Exclude<PatientField, 'id'>]: ValueOf<(typeof PATIENT_FIELDS)[F]>;
};

export const RANGES = {
  integer: { min: -2147483648, max: 2147483647 },
  signedByte: { min: -128, max: 127 },
} as const;

/** The seed's own sample request, verbatim. */
export const SEED_SAMPLE = {
  id: 1,
  cluster_id: 2,
  center_id: 3,
  create_time: '2025-10-31T19:55:09.1383551+07:00',
  modify_time: '2025-10-31T19:55:09.1383551+07:00',
  modify_by: 6,
  record_status_id: 64,
  isactive: 64,
  person_id: 9,
  order: 1,
  fullname: 'sample string 10',
  welfare_detail_id: 1,
  hn: 'sample string 11',
  hn_owner: 'sample string 12',
  total_hd: 1,
  followup_date: '2025-10-31T19:55:09.1539855+07:00',
  status_id: 64,
  dialyzer1_id: 1,
  dialyzer2_id: 1,
  doctor1_id: 1,
  doctor2_id: 1,
  trt_no: 'sample string 13',
  med_sup_role_id: 1,
  trt_patient_id: 'sample string 14',
  trt_cn: 'sample string 15',
} as const;
