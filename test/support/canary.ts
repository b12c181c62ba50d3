import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';

/**
 * A unique value that may live in MongoDB (it is the data) and nowhere else: test/integration/phi-canary.test.ts
 * sends it through every path a record takes; test/integration/tracing.test.ts through the exported spans.
 * The patient values it stands for: names and the person's identifiers (hn, trt numbers). The record's
 * `id` is the center's key for it, which logs, job results and the audit carry by design.
 */
export const makeCanary = () => `CANARY${Math.random().toString(36).slice(2, 10)}X`;

/** The seed's sample with the canary in every field that names or identifies the person. */
export const withCanary = (canary: string) => ({ ...SEED_SAMPLE, fullname: canary, hn: canary, hn_owner: canary, trt_no: canary, trt_patient_id: canary, trt_cn: canary });
