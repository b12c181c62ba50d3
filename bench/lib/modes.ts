// How long and how much each scenario runs, per mode. Every load is bounded by these numbers and
// by the mode's hard time limit (the harness aborts past it).

export type Mode = 'full' | 'quick' | 'smoke';

export type Params = {
  mode: Mode;
  /** Rounds per scenario; medians are taken over them. */
  rounds: number;
  /** Hard limit for the whole run; past it the harness stops everything and exits non-zero. */
  hardLimitS: number;
  warmupS: number;
  /** Scenario 1: one patient per request. */
  intakeS: number;
  connections: number;
  /** Scenario 2: batches. */
  batchS: number;
  batchConnections: number;
  batchSizes: number[];
  /** Scenario 3: drain. */
  /** Records queued (in jobs of JOB_MAX_RECORDS) for each drain measurement of new patients. */
  drainJobs: number;
  /** Re-sent patients updated in the update drain at the large size (all of them at the small one). */
  drainUpdates: number;
  /** Registry sizes of the update drains: patients stored (in an older version) before each. */
  updateStoredSmall: number;
  updateStoredLarge: number;
  /** Each update writer (worker, raw driver) gets at most this long. */
  updateMaxS: number;
  /**
   * Each writer (worker, raw bulkWrite) gets the same records and at most this long;
   * its rate is documents stored / time. On FerretDB/SQLite every upsert scans the collection, so
   * a 50,000-job backlog cannot drain in any bounded time there (see bench/README.md).
   */
  drainMaxS: number;
  rawBatchSize: number;
  /** Scenario 4: end to end at a steady offered load. */
  e2eS: number;
  /** Offered load = this fraction of min(intake req/s, drain jobs/s) measured earlier in the run. */
  e2eLoadFraction: number;
  e2eDefaultRate: number;
  /** Scenario 5: the soak; RSS at `soakEarlyS` is compared with RSS at the end. */
  soakS: number;
  /**
   * The soak re-sends stored patients (as centres do): this many are stored beforehand, at least as
   * many as the soak sends, so every request is a re-send of its own patient and every one is timed.
   */
  soakPopulation: number;
  /** Scenario 7: records of the `import --wait` run (issue 24: 20,000). */
  importRecords: number;
  soakEarlyS: number;
  rssIntervalMs: number;
  queueSampleMs: number;
};

const full: Params = {
  mode: 'full',
  rounds: 3,
  hardLimitS: 55 * 60,
  warmupS: 3,
  intakeS: 15,
  connections: 64,
  batchS: 10,
  batchConnections: 8,
  batchSizes: [100, 1000],
  drainJobs: 50_000,
  drainUpdates: 20_000,
  updateStoredSmall: 1_000,
  updateStoredLarge: 100_000,
  updateMaxS: 60,
  drainMaxS: 45,
  rawBatchSize: 500,
  e2eS: 30,
  e2eLoadFraction: 0.5,
  e2eDefaultRate: 1000,
  soakS: 300,
  importRecords: 20_000,
  soakEarlyS: 60,
  soakPopulation: 200,
  rssIntervalMs: 250,
  queueSampleMs: 250,
};

const quick: Params = {
  ...full,
  mode: 'quick',
  rounds: 1,
  hardLimitS: 8 * 60,
  warmupS: 1,
  intakeS: 5,
  batchS: 3,
  drainJobs: 5_000,
  drainUpdates: 10_000,
  updateStoredLarge: 20_000,
  updateMaxS: 20,
  drainMaxS: 5,
  // One bulkWrite of 500 upserts can take half a minute on FerretDB/SQLite: smaller batches keep
  // the quick run under 2 minutes (the report says which size was used).
  rawBatchSize: 100,
  e2eS: 8,
  soakS: 15,
  importRecords: 20_000,
  soakEarlyS: 3,
  soakPopulation: 200,
};

const smoke: Params = {
  ...full,
  mode: 'smoke',
  rounds: 1,
  // Five drain measurements and a build: generous, as the smoke test runs beside others on 2 cores.
  hardLimitS: 5 * 60,
  warmupS: 0,
  intakeS: 1,
  connections: 4,
  batchS: 1,
  batchConnections: 2,
  drainJobs: 300,
  drainUpdates: 100,
  updateStoredSmall: 100,
  updateStoredLarge: 300,
  updateMaxS: 5,
  drainMaxS: 2,
  rawBatchSize: 50,
  e2eS: 2,
  e2eDefaultRate: 100,
  soakS: 3,
  importRecords: 300,
  soakEarlyS: 1,
  soakPopulation: 50,
  rssIntervalMs: 100,
  queueSampleMs: 100,
};

export const MODES: Record<Mode, Params> = { full, quick, smoke };
