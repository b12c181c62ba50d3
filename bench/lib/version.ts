// The worker's version string (src/worker/process-patient-job.ts `versionOf`), copied so the harness
// and the reference processes do not load the worker's modules: `modify_time|receivedAt|job seq`.
const EPOCH = '0000-00-00T00:00:00.000Z';

export function versionOf(modifyTime: Date | null, receivedAt: number, jobId: string): string {
  const seq = /^\d+$/.test(jobId) ? jobId.padStart(16, '0') : jobId;
  return `${modifyTime ? modifyTime.toISOString() : EPOCH}|${new Date(receivedAt).toISOString()}|${seq}`;
}
