// What every command gets from the CLI shell: where results go, and how diagnostics are shown.
import { readFileSync, readlinkSync } from "node:fs";
import { runAll } from "../cleanup.ts";
import { ExitCode, SYSTEM_ERRORS } from "../errors.ts";
import { terminalProgress, type ProgressSink, type RenderedProgress } from "../progress.ts";

export interface CliContext {
  /** Results for machines and people: stdout. */
  out(line: string): void;
  /** Bytes exactly as they are (inspect --raw): stdout. */
  outBytes(bytes: Uint8Array): void;
  /** Diagnostics: stderr (warnings, notes). Never results. */
  warn(line: string): void;
  /** Progress sink: renders on a terminal, silent when piped or with --json. */
  progress(json: boolean): RenderedProgress;
}

export const processContext: CliContext = {
  out: (line) => writeStdout(line + "\n"),
  outBytes: (bytes) => writeStdout(bytes),
  warn: (line) => process.stderr.write(`apt-ostree: ${line}\n`),
  progress: (json) => {
    if (json) {
      return Object.assign((() => {}) as ProgressSink, { end: () => {}, active: false });
    }
    return terminalProgress();
  },
};

function writeStdout(data: string | Uint8Array): void {
  if (stdoutWasClosed()) {
    process.stderr.write("apt-ostree: cannot write the output: stdout is closed\n");
    runAll();
    process.exit(ExitCode.Failure);
  }
  process.stdout.write(data);
}

let closedAtStart: boolean | undefined;

/**
 * Started with stdout closed (`>&-`): the runtime opens /dev/null in its place, so writes would
 * vanish and the run would look fine. The descriptor it opened is close-on-exec, which no
 * inherited one can be (exec would have closed it): that tells it from a real `>/dev/null`.
 */
function stdoutWasClosed(): boolean {
  if (closedAtStart === undefined) {
    try {
      const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync("/proc/self/fdinfo/1", "utf8"))?.[1];
      closedAtStart = flags !== undefined && (parseInt(flags, 8) & 0o2000000) !== 0 && readlinkSync("/proc/self/fd/1") === "/dev/null";
    } catch {
      closedAtStart = false; // no /proc: assume it is open, as before
    }
  }
  return closedAtStart;
}

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
