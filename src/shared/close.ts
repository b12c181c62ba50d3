// Closing a resource that may hang (a server that does not answer its goodbye): give it a bound,
// then go on. A failed close is as good as a finished one here: the process is leaving anyway.

/** Runs `close` and resolves when it settles or after `ms`, whichever comes first; never rejects. */
export function closeWithin(ms: number, close: () => Promise<unknown> | unknown): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms));
    timer.unref();
  });
  const done = Promise.resolve()
    .then(close)
    .then(() => {}, () => {});
  return Promise.race([done, bound]).finally(() => clearTimeout(timer));
}

/** Runs the closes one after another, each within `ms`; the returned function is safe to call twice. */
export function closer(ms: number, closes: (() => Promise<unknown> | unknown)[]): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= (async () => {
      for (const close of closes) await closeWithin(ms, close);
    })());
}
