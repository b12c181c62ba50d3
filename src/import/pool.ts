// At most `limit` tasks at a time. The first failure is kept and stops new tasks; the running ones
// finish (so their acknowledgements still reach the checkpoint) and drain() then throws it.

export type Pool = ReturnType<typeof createPool>;

export function createPool(limit: number) {
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;
  return {
    failed: () => failure !== null,
    /** Waits for a free slot, then starts the task; answers false (and starts nothing) after a failure. */
    async run(task: () => Promise<void>): Promise<boolean> {
      while (running.size >= limit) await Promise.race(running);
      if (failure) return false;
      const p: Promise<void> = task()
        .catch((error: unknown) => {
          failure ??= { error };
        })
        .finally(() => running.delete(p));
      running.add(p);
      return true;
    },
    async drain(): Promise<void> {
      await Promise.all(running);
      if (failure) throw failure.error;
    },
  };
}
