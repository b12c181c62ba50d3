import type { Config } from '../../shared/config/config.ts';
import type { PatientRules } from '../../shared/patient/patient-schema.ts';

/**
 * The contract as the intake applies it: the shared rules plus two that only make sense when a
 * record arrives (the worker re-validates without them: a replayed record's modify_time is no
 * longer in the future, and its cluster was checked when it came in).
 */
export function intakeRules(config: Config): PatientRules {
  return {
    timeZone: config.PATIENT_TIME_ZONE,
    maxStringLength: config.PATIENT_STRING_MAX,
    maxFutureMs: config.PATIENT_MAX_FUTURE_S * 1000,
    centerClusters: config.CENTER_CLUSTERS,
  };
}
