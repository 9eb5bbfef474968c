// Temporary outputs register here so that an interrupted run (SIGINT, SIGTERM, SIGHUP) leaves
// nothing behind. Cleanups are synchronous on purpose: after a signal there is no event loop to wait on.
import { lstatSync, rmSync } from "node:fs";

type Cleanup = () => void;
/** The signals that interrupt a run, and the exit code each ends it with. */
export const INTERRUPT_SIGNALS = [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const;
const cleanups = new Set<Cleanup>();
/** Work an interrupt waits for (network calls: an upload session to close), at most ASYNC_CLEANUP_MS. */
const asyncCleanups = new Map<() => Promise<unknown>, string>();
const ASYNC_CLEANUP_MS = 3000;
let installed = false;
let interrupted = false;

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
      // A second signal while the network cleanups run: go now.
      if (interrupted) process.exit(code);
      interrupted = true;
      const removed = cleanups.size > 0;
      runAll();
      const pending = [...asyncCleanups];
      asyncCleanups.clear();
      const done = [...(removed ? ["temporary output removed"] : []), ...new Set(pending.map(([, what]) => what))];
      const end = () => {
        // A newline ends a progress line on a terminal; piped stderr has none to end.
        process.stderr.write(`${process.stderr.isTTY ? "\n" : ""}apt-ostree: interrupted (${signal})${done.map((d) => `; ${d}`).join("")}\n`);
        process.exit(code);
      };
      if (pending.length === 0) return end();
      const timer = new Promise((resolve) => setTimeout(resolve, ASYNC_CLEANUP_MS));
      void Promise.race([Promise.allSettled(pending.map(([fn]) => fn())), timer]).then(end);
    });
  }
}

/** Whether an interrupt is being handled: no new work should start (a push must not tag its image in the cleanup's grace time). */
export function interruptRequested(): boolean {
  return interrupted;
}

/**
 * Runs `fn` (a network call, at most 3 s of it) if the process is interrupted before the returned
 * disposer is called; `what` is said in the interrupt's message ("upload abandoned").
 */
export function onInterruptAsync(fn: () => Promise<unknown>, what: string): () => void {
  install();
  asyncCleanups.set(fn, what);
  return () => {
    asyncCleanups.delete(fn);
  };
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
