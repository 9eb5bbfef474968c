// Progress is data: the library emits events, the CLI decides how (and whether) to show them.

export interface ProgressEvent {
  /** What is being done, e.g. "layer", "push sha256:ab12…". */
  task: string;
  /** Units done and total (bytes unless `unit` says otherwise); total 0 = unknown. */
  done: number;
  total: number;
  /** "steps": a run of named steps (`detail` says which); no figure is shown. */
  unit?: "bytes" | "entries" | "steps";
  /** Extra figure shown beside the main one, e.g. entries written. */
  detail?: string;
}

export type ProgressSink = (event: ProgressEvent) => void;

function human(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export type RenderedProgress = ProgressSink & {
  end(): void;
  /** False when nothing is shown (piped, CI, --json): producers may skip measuring progress at all. */
  readonly active: boolean;
};

/**
 * Renders progress on one rewritten stderr line, at most ten times a second. Only on a terminal
 * that can rewrite a line: when stderr is piped, in CI or with TERM=dumb (Emacs' shell, some CI
 * logs), nothing is written.
 */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): RenderedProgress {
  const enabled = Boolean(stream.isTTY) && !process.env.CI && process.env.TERM !== "dumb";
  let last = 0;
  let shown = false;
  // An event that came too soon is shown when the interval is over: the last step before a long
  // quiet one (compose's reshape after mmdebstrap's lines) must not stay hidden.
  let pending: ReturnType<typeof setTimeout> | undefined;
  const tasks = new Map<string, ProgressEvent>();
  const render = () => {
    pending = undefined;
    last = Date.now();
    const parts = [...tasks.values()].slice(-3).map((e) => {
      if (e.unit === "steps") return `${e.task}: ${e.detail ?? ""}`;
      // A total may be an estimate: never show more than it.
      const done = e.total ? Math.min(e.done, e.total) : e.done;
      const amount = e.unit === "entries" ? `${done}` : human(done);
      const of = e.total ? ` / ${e.unit === "entries" ? e.total : human(e.total)} ${Math.floor((100 * done) / e.total)}%` : "";
      return `${e.task} ${amount}${of}${e.detail ? ` (${e.detail})` : ""}`;
    });
    const width = stream.columns || 80;
    stream.write(`\r\x1b[2K${parts.join("  ").slice(0, width - 1)}`);
    shown = true;
  };
  const sink = ((event: ProgressEvent) => {
    if (!enabled) return;
    tasks.set(event.task, event);
    const wait = last + 100 - Date.now();
    if (wait <= 0 || (event.total && event.done >= event.total)) {
      if (pending) clearTimeout(pending);
      render();
    } else if (!pending) {
      pending = setTimeout(render, wait);
      // Never what keeps the process alive.
      (pending as { unref?: () => void }).unref?.();
    }
  }) as ProgressSink;
  return Object.assign(sink, {
    end: () => {
      if (pending) clearTimeout(pending);
      pending = undefined;
      if (shown) stream.write("\r\x1b[2K");
      shown = false;
    },
    active: enabled,
  });
}
