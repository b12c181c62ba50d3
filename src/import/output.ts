// The command's own output, its interface: the summary and messages on stdout, warnings and errors
// on stderr. The only place that writes to the process's streams (the progress bar writes to the
// stream it is given).

export type Output = {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Where the progress display goes: a terminal gets a bar, anything else periodic plain lines. */
  progressStream: NodeJS.WritableStream & { isTTY?: boolean };
};

export function processOutput(stdout: NodeJS.WriteStream, stderr: NodeJS.WriteStream): Output {
  return {
    out: (line) => void stdout.write(`${line}\n`),
    err: (line) => void stderr.write(`${line}\n`),
    progressStream: stderr,
  };
}

export const number = (n: number) => n.toLocaleString('en-US');

export function duration(ms: number): string {
  const s = Math.round(ms / 100) / 10;
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
