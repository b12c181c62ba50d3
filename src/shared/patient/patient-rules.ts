// The settings a patient schema is built from, and the shape of what it reports.

export type PatientRules = {
  timeZone: string;
  maxStringLength: number;
  /** Intake only: a modify_time further ahead than this would make every later update stale. */
  maxFutureMs?: number;
  /** Intake only: CENTER_CLUSTERS; a record's cluster_id must be its center's configured cluster. */
  centerClusters?: ReadonlyMap<number, number>;
};

export type FieldIssue = { path: string; message: string };
