// One error type for everything a user can cause or fix. The CLI prints `message` as one line on
// stderr and exits with `exitCode`; anything else is a bug and gets a stack trace under DEBUG.

export enum ExitCode {
  Ok = 0,
  /** The operation failed (I/O error, tool failure, invalid image). */
  Failure = 1,
  /** Bad command line or configuration file. */
  Usage = 2,
  /** A named thing does not exist: repository, ref, image, tag, file. */
  NotFound = 3,
  /** Authentication or authorization failed. */
  Auth = 4,
  /** Registry unreachable, TLS failure, too many retries. */
  Network = 5,
  /** The output already exists and --force was not given. */
  Exists = 6,
  /** Interrupted by SIGINT/SIGTERM. */
  Interrupted = 130,
  /** The reader of stdout went away (a closed pipe): 128 + SIGPIPE, as a tool killed by it. */
  BrokenPipe = 141,
}

export class UserError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode = ExitCode.Failure, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UserError";
    this.exitCode = exitCode;
  }
}

export function usageError(message: string): UserError {
  return new UserError(message, ExitCode.Usage);
}

export function notFound(message: string): UserError {
  return new UserError(message, ExitCode.NotFound);
}

/** A single line: errors from tools and the OS may carry newlines. */
export function oneLine(text: string): string {
  // Trimmed first: a tool's message ends with a newline, which is no line break to join.
  return text.trim().replace(/\s*\n\s*/g, "; ");
}

/** What the OS refused, in words, for the errors a full, read-only or foreign output location gives. */
export const SYSTEM_ERRORS: Record<string, string> = {
  ENOSPC: "disk full",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  ENAMETOOLONG: "name too long",
  EMFILE: "too many open files",
  EIO: "input/output error",
  ENOENT: "no such file or directory",
};
