// Retry policy: exponential backoff with full jitter, honouring Retry-After. Pure: no I/O.

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** Longest Retry-After we agree to wait. */
  maxRetryAfterMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 6, baseMs: 250, maxMs: 15_000, maxRetryAfterMs: 120_000 };

/**
 * The wait before attempt `attempt + 1` (attempt counts from 1). Full jitter: a random wait in
 * [base·2^(n-1)/2, base·2^(n-1)], capped; a server's Retry-After wins when longer.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  if (retryAfterMs !== undefined && retryAfterMs > 0) return Math.min(policy.maxRetryAfterMs, Math.max(retryAfterMs, jittered));
  return Math.round(jittered);
}

/** `Retry-After`: seconds, or an HTTP date. Returns milliseconds, or undefined if absent/invalid. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

/**
 * Seconds without an answer (or without data) before a request counts as timed out and is retried:
 * 60, or $APT_OSTREE_REGISTRY_TIMEOUT.
 */
export function stallTimeoutMs(env: Record<string, string | undefined> = process.env): number {
  const n = Number(env.APT_OSTREE_REGISTRY_TIMEOUT);
  return Number.isFinite(n) && n > 0 ? n * 1000 : 60_000;
}
