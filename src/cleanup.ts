// Temporary outputs register here so that an interrupted run (SIGINT, SIGTERM, SIGHUP) leaves
// nothing behind. Cleanups are synchronous on purpose: after a signal there is no event loop to wait on.
import { lstatSync, rmSync } from "node:fs";

type Cleanup = () => void;
/** The signals that interrupt a run, and the exit code each ends it with. */
export const INTERRUPT_SIGNALS = [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const;
const cleanups = new Set<Cleanup>();
let installed = false;

/** Runs every registered cleanup now (synchronously), for an exit that is not a signal's. */
export function runAll(): void {
  for (const fn of [...cleanups].reverse()) {
    try {
      fn();
    } catch {
      // best effort: the process is going away
    }
  }
  cleanups.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of INTERRUPT_SIGNALS) {
    process.on(signal, () => {
      runAll();
      // A newline ends a progress line on a terminal; piped stderr has none to end.
      process.stderr.write(`${process.stderr.isTTY ? "\n" : ""}apt-ostree: interrupted (${signal}); temporary output removed\n`);
      process.exit(code);
    });
  }
}

/** Runs `fn` if the process is interrupted before the returned disposer is called. */
export function onInterrupt(fn: Cleanup): () => void {
  install();
  cleanups.add(fn);
  return () => {
    cleanups.delete(fn);
  };
}

/**
 * Deletes `path` recursively. A writer that is still stopping may remove or add files while the
 * tree is walked (rmSync then fails with ENOENT or ENOTEMPTY, or leaves the directory): go again
 * until it is gone.
 */
export function removeTree(path: string): void {
  let failure: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch (error) {
      failure = error;
    }
    if (!pathExists(path)) return;
  }
  throw failure ?? new Error(`cannot remove ${path}`);
}

function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Registers a path to delete (recursively) on interruption; returns the disposer. */
export function removeOnInterrupt(path: string): () => void {
  return onInterrupt(() => removeTree(path));
}

/**
 * Runs `body` with a temporary path that is removed afterwards whatever happens (success, error,
 * signal), unless `body` moved it away.
 */
export async function withTemporaryPath<T>(path: string, body: (path: string) => Promise<T>): Promise<T> {
  const dispose = removeOnInterrupt(path);
  try {
    return await body(path);
  } finally {
    rmSync(path, { recursive: true, force: true });
    dispose();
  }
}

/**
 * `Promise.all` that waits for every promise to settle before it rejects, so that no work is still
 * writing into a temporary path when the caller's cleanup removes it.
 */
export async function allSettledOrThrow<T extends readonly unknown[]>(promises: [...{ [K in keyof T]: Promise<T[K]> }]): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
