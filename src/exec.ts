// Running the host tools we rely on (ostree, mmdebstrap): arguments as arrays, never through a
// shell; failures become one-line errors that quote the tool's own message.
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { UserError, ExitCode, oneLine } from "./errors.ts";
import { INTERRUPT_SIGNALS } from "./cleanup.ts";

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string | Uint8Array;
  /** Pass the child's stderr through to ours (for long tools whose progress the user wants). */
  inheritStderr?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** The exit code; 128 + the signal's number for a child killed by one, as a shell says. */
  code: number;
  /** The signal that killed the child, if one did. */
  signal?: NodeJS.Signals;
}

/**
 * The signals that interrupt us too. A child killed by one most likely got it with us,
 * from a Ctrl-C or a kill of the process group, and its exit may be seen before our own handler
 * runs: the handler gets this long to end the process (as an interrupt, cleanups run) before the
 * child's death counts as its failure.
 */
const INTERRUPTS: ReadonlySet<string> = new Set(INTERRUPT_SIGNALS.map(([signal]) => signal));
const INTERRUPT_GRACE_MS = 2000;

/** Runs a program and collects its output; never throws for a non-zero exit (see `check`). */
export function run(program: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", options.inheritStderr ? "inherit" : "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr?.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") {
        reject(new UserError(`${program} is not installed (apt-get install ${packageOf(program)})`, ExitCode.Failure));
      } else reject(e);
    });
    child.on("close", (code, signal) => {
      const result: RunResult = {
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        code: code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1),
        ...(signal ? { signal } : {}),
      };
      if (signal && INTERRUPTS.has(signal)) setTimeout(() => resolve(result), INTERRUPT_GRACE_MS);
      else resolve(result);
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** Runs a program and throws a UserError with its stderr when it fails. */
export async function check(program: string, args: string[], options: RunOptions = {}): Promise<string> {
  const result = await run(program, args, options);
  if (result.code !== 0) {
    const message = oneLine(result.stderr || result.stdout) || howItEnded(result);
    throw new UserError(`${program} ${args[0] ?? ""} failed: ${message}`.replace(/ +/g, " "));
  }
  return result.stdout;
}

/** For a failure that printed nothing: `killed by SIGKILL`, `exit code 3`. */
export function howItEnded(result: RunResult): string {
  return result.signal ? `killed by ${result.signal}` : `exit code ${result.code}`;
}

function packageOf(program: string): string {
  const known: Record<string, string> = { ostree: "ostree", mmdebstrap: "mmdebstrap", "qemu-aarch64-static": "qemu-user-static" };
  return known[program] ?? program;
}
