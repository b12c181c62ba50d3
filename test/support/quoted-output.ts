// Another tool's report, printed inside ours. CI judges a run by the closing lines it recognises
// from known test runners, and schemathesis closes its summary the way pytest closes a run:
// "==== 1 warning in 30.70s ====" reads as a pytest session that ran no test, and the CI runs of
// stops 17-28 were all judged "ran no test" although the last line was "Tests: N passed, 0 failed".
// Every quoted line gets the tool's tag in front, loses the banner rules, and a closing "… in 30.70s"
// becomes "… (took 30.70 s)", so none of it can be taken for a runner's closing line.
export function quoted(tool: string, text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/^=+\s*|\s*=+$/g, '').trimEnd().replace(/ in (\d+(?:\.\d+)?)s$/, ' (took $1 s)'))
    .map((line) => `[${tool}] ${line}`.trimEnd())
    .join('\n');
}
