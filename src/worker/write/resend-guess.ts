// Whether the next batch is most likely a re-send (patients already stored), learned from the last
// batches this process wrote. Centers mostly re-send patients they sent before, and on the embedded
// server a refused insert costs about as much as the write itself (FerretDB inserts one by one once
// a batch insert fails: 0.58 ms per known patient, measured in src/worker/README.md). So once
// most patients of recent batches were already stored, a batch goes straight to the guarded
// replace-with-upsert, which stores a new patient as well. Which way a batch goes changes its cost,
// never its outcomes: both end in the same `inserted` / `updated` / `unchanged` / `stale`.

export type ResendGuess = {
  /** True when the recent batches were mostly of stored patients. */
  readonly resend: () => boolean;
  /** What a batch found: how many of its patients were stored already, of how many. */
  readonly saw: (known: number, of: number) => void;
};

/** Weight of the newest batch in the running share: about the last five batches count. */
const WEIGHT = 0.2;

export function createResendGuess(): ResendGuess {
  let knownShare = 0; // a new process expects new patients: the insert first, as a first load needs
  return {
    resend: () => knownShare > 0.5,
    saw(known, of) {
      if (of > 0) knownShare += WEIGHT * (known / of - knownShare);
    },
  };
}
