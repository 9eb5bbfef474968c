// What every command gets from the CLI shell: where results go, and how diagnostics are shown.
import { runAll } from "../cleanup.ts";
import { ExitCode, SYSTEM_ERRORS } from "../errors.ts";
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

/**
 * Write errors of stdout and stderr end the process as a tool's would, instead of crashing with a
 * stack trace: a closed pipe (`| head -1`) quietly with 141, as if killed by SIGPIPE; a full
 * disk or another error of stdout with one line and exit 1. Both come as stream events, not throws.
 */
export function guardOutputStreams(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    runAll();
    if (error.code === "EPIPE") process.exit(ExitCode.BrokenPipe);
    const reason = SYSTEM_ERRORS[error.code ?? ""] ?? error.message;
    process.stderr.write(`apt-ostree: cannot write the output: ${reason}\n`);
    process.exit(ExitCode.Failure);
  });
  process.stderr.on("error", (error: NodeJS.ErrnoException) => {
    runAll();
    process.exit(error.code === "EPIPE" ? ExitCode.BrokenPipe : ExitCode.Failure);
  });
}
