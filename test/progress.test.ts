// The terminal progress line: what it shows, and that it shows nothing off a terminal.
import { afterEach, describe, expect, it, vi } from "vitest";
import { terminalProgress } from "../src/progress.ts";

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, columns: 200, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream, writes };
}

function withoutCI<T>(body: () => T): T {
  const saved = process.env.CI;
  delete process.env.CI;
  try {
    return body();
  } finally {
    if (saved !== undefined) process.env.CI = saved;
  }
}

describe("terminalProgress", () => {
  afterEach(() => vi.useRealTimers());

  it("shows done / total and a percentage on a terminal, and clears the line at the end", () => {
    vi.useFakeTimers();
    const { stream, writes } = fakeStream(true);
    const progress = withoutCI(() => terminalProgress(stream));
    expect(progress.active).toBe(true);
    progress({ task: "layer", done: 512 * 1024 * 1024, total: 2048 * 1024 * 1024, detail: "layer 1/8" });
    expect(writes.at(-1)).toBe("\r\x1b[2Klayer 512.0 MiB / 2.0 GiB 25% (layer 1/8)");
    // At most ten lines a second.
    progress({ task: "layer", done: 600 * 1024 * 1024, total: 2048 * 1024 * 1024 });
    expect(writes).toHaveLength(1);
    // Done beyond an estimated total never shows more than the total.
    vi.advanceTimersByTime(150);
    progress({ task: "layer", done: 3 * 1024 * 1024 * 1024, total: 2048 * 1024 * 1024 });
    expect(writes.at(-1)).toBe("\r\x1b[2Klayer 2.0 GiB / 2.0 GiB 100%");
    // Several tasks share the line; one without a total shows its amount only.
    vi.advanceTimersByTime(150);
    progress({ task: "push", done: 10, total: 0 });
    expect(writes.at(-1)).toBe("\r\x1b[2Klayer 2.0 GiB / 2.0 GiB 100%  push 10 B");
    progress.end();
    expect(writes.at(-1)).toBe("\r\x1b[2K");
  });

  it("shows an event that came too soon once the interval is over; steps show what they are doing", () => {
    vi.useFakeTimers();
    const { stream, writes } = fakeStream(true);
    const progress = withoutCI(() => terminalProgress(stream));
    progress({ task: "compose", done: 0, total: 0, unit: "steps", detail: "mmdebstrap: installing" });
    expect(writes.at(-1)).toBe("\r\x1b[2Kcompose: mmdebstrap: installing");
    // The last step before a long quiet one: held back for the interval, then shown.
    progress({ task: "compose", done: 0, total: 0, unit: "steps", detail: "reshaping for OSTree" });
    expect(writes).toHaveLength(1);
    vi.advanceTimersByTime(100);
    expect(writes.at(-1)).toBe("\r\x1b[2Kcompose: reshaping for OSTree");
    progress.end();
    vi.advanceTimersByTime(1000);
    expect(writes.at(-1)).toBe("\r\x1b[2K");
  });

  it("writes nothing when stderr is not a terminal, or under CI", () => {
    const piped = fakeStream(false);
    const progress = withoutCI(() => terminalProgress(piped.stream));
    progress({ task: "layer", done: 1, total: 2 });
    progress.end();
    expect(progress.active).toBe(false);
    expect(piped.writes).toEqual([]);
    const ci = fakeStream(true);
    const saved = process.env.CI;
    process.env.CI = "true";
    try {
      const inCI = terminalProgress(ci.stream);
      inCI({ task: "layer", done: 1, total: 2 });
      expect(inCI.active).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    }
    expect(ci.writes).toEqual([]);
  });
});
