// What every command gets from the CLI shell: where results go, and how diagnostics are shown.
import { terminalProgress, type ProgressSink, type RenderedProgress } from "../progress.ts";

export interface CliContext {
  /** Results for machines and people: stdout. */
  out(line: string): void;
  /** Diagnostics: stderr (warnings, notes). Never results. */
  warn(line: string): void;
  /** Progress sink: renders on a terminal, silent when piped or with --json. */
  progress(json: boolean): RenderedProgress;
}

export const processContext: CliContext = {
  out: (line) => process.stdout.write(line + "\n"),
  warn: (line) => process.stderr.write(`apt-ostree: ${line}\n`),
  progress: (json) => {
    if (json) {
      return Object.assign((() => {}) as ProgressSink, { end: () => {}, active: false });
    }
    return terminalProgress();
  },
};

/** cac yields a scalar for one use of a repeatable flag and an array for several. */
export function toList(value: unknown): string[] {
  if (value === undefined || value === null || value === false) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}
