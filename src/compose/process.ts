// Long-running tools (mmdebstrap, apt in a chroot): stderr is read line by line for progress and
// kept for the error message; nothing is passed through to the user's terminal.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { ExitCode, UserError } from "../errors.ts";
import { onInterrupt } from "../cleanup.ts";

export interface StreamResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runStreaming(
  program: string,
  args: string[],
  options: { env?: Record<string, string>; onLine?: (line: string) => void; replaceEnv?: boolean } = {},
): Promise<StreamResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      env: options.replaceEnv ? options.env : { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so that an interruption stops everything it started.
      detached: true,
    });
    // On SIGINT/SIGTERM the child goes first (registered last, so it runs before the build tree
    // is removed): SIGTERM, then up to 10 s for it to clean up its own mounts.
    const dispose = onInterrupt(() => stopChild(child.pid));
    let stdout = "";
    let stderr = "";
    let pending = "";
    const feed = (chunk: string) => {
      pending += chunk;
      const parts = pending.split(/\r?\n|\r/);
      pending = parts.pop() ?? "";
      for (const p of parts) options.onLine?.(p);
    };
    child.stdout.on("data", (d: Buffer) => {
      const s = d.toString("utf8");
      stdout += s;
      feed(s);
    });
    child.stderr.on("data", (d: Buffer) => {
      const s = d.toString("utf8");
      stderr += s;
      feed(s);
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      dispose();
      if (e.code === "ENOENT") reject(new UserError(`${program} is not installed (apt-get install ${program})`, ExitCode.Failure));
      else reject(e);
    });
    child.on("close", (code, signal) => {
      dispose();
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Processes of a process group that still run (zombies do not: nobody reaps them while a
 * signal handler busy-waits). */
function groupAlive(pgid: number): boolean {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return false;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z") return true;
    } catch {
      // gone
    }
  }
  return false;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // gone
  }
}

/**
 * Stops the child and everything it started (its own process group): SIGTERM, up to 10 s to
 * finish, then SIGKILL. Synchronous on purpose: it runs from a signal handler.
 */
function stopChild(pid: number | undefined): void {
  if (!pid || !groupAlive(pid)) return;
  signalGroup(pid, "SIGTERM");
  for (let i = 0; i < 100 && groupAlive(pid); i++) spawnSync("sleep", ["0.1"]);
  if (groupAlive(pid)) signalGroup(pid, "SIGKILL");
  for (let i = 0; i < 20 && groupAlive(pid); i++) spawnSync("sleep", ["0.1"]);
}

/** Mount points at or below `dir` (deepest first), from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  let text = "";
  try {
    text = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const prefix = dir.replace(/\/+$/, "");
  return text
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => Boolean(m))
    .map((m) => m.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === prefix || m.startsWith(prefix + "/"))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes a build tree safely: first unmounts anything still mounted below it (lazily), then
 * deletes without crossing into other filesystems. Synchronous: also used after a signal.
 */
export function removeTree(dir: string): void {
  for (const m of mountsUnder(dir)) spawnSync("umount", ["-l", m], { stdio: "ignore" });
  spawnSync("rm", ["-rf", "--one-file-system", "--", dir], { stdio: "ignore" });
}
