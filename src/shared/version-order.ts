// Versions (`modify_time|receivedAt|jobSeq`, process-patient-job.ts) are ordered by the server's
// guard (`$not: {$gte}`) with its default, binary collation: UTF-8 bytes, compared as unsigned.
// JavaScript's `<` compares UTF-16 code units, which orders U+E000-U+FFFF after the surrogate pairs
// of U+10000 and above: the other way round. Every comparison of versions in this code uses this
// one, so the worker never decides otherwise than the server does.

/** Negative, zero or positive, as MongoDB orders the two strings. */
export function compareVersions(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
