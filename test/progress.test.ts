// The terminal progress line: what it shows, and that it shows nothing off a terminal.
import { afterEach, describe, expect, it, vi } from "vitest";
import { terminalProgress, type ProgressEvent } from "../src/progress.ts";
import { transferProgress } from "../src/registry/images.ts";

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, columns: 200, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream, writes };
}

/** Runs `body` as on a developer's terminal: no CI, a TERM that can rewrite a line. */
function withoutCI<T>(body: () => T, term = "xterm-256color"): T {
  const saved = { CI: process.env.CI, TERM: process.env.TERM };
  delete process.env.CI;
  process.env.TERM = term;
  try {
    return body();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
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
    // TERM=dumb (Emacs' shell): a terminal that cannot rewrite a line.
    const dumb = fakeStream(true);
    const onDumb = withoutCI(() => terminalProgress(dumb.stream), "dumb");
    onDumb({ task: "layer", done: 1, total: 2 });
    onDumb.end();
    expect([onDumb.active, dumb.writes]).toEqual([false, []]);
  });
});

describe("transferProgress", () => {
  it("is one line for all the blobs: bytes of every blob expected, and how many are done", () => {
    const events: ProgressEvent[] = [];
    const sink = Object.assign((e: ProgressEvent) => events.push(e), { active: true, end: () => undefined });
    const shown = transferProgress(sink, "push")!;
    const [a, b, c] = [{ digest: "sha256:a", size: 100 }, { digest: "sha256:b", size: 300 }, { digest: "sha256:c", size: 600 }];
    shown.expect([a, b, c]);
    const line = () => `${events.at(-1)!.done}/${events.at(-1)!.total} ${events.at(-1)!.detail}`;
    shown.blob(c)(300, 600);
    expect(line()).toBe("300/1000 0/3 blobs");
    // A blob the registry has already counts as done.
    shown.blob(a)(100, 100);
    expect(line()).toBe("400/1000 1/3 blobs");
    // A retried upload starts again.
    shown.blob(c)(0, 600);
    expect(line()).toBe("100/1000 1/3 blobs");
    shown.blob(c)(600, 600);
    shown.blob(b)(300, 300);
    expect(line()).toBe("1000/1000 3/3 blobs");
    // Nothing is measured when nothing is shown.
    expect(transferProgress(Object.assign(() => undefined, { active: false, end: () => undefined }), "push")).toBeUndefined();
  });
});
