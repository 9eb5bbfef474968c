// Running host tools: how a tool's failure reads, and a tool killed by our own interrupt.
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { check, run } from "../src/exec.ts";
import { UserError } from "../src/errors.ts";
import { projectRoot } from "./helpers/cli.ts";

async function failure(promise: Promise<unknown>): Promise<UserError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error("expected a failure");
}

describe("check", () => {
  it("quotes a tool's stderr on one line, with no ';' for its final newline", async () => {
    const e = await failure(check("sh", ["-c", "echo 'error: one' >&2; echo '  error: two' >&2; exit 3"]));
    expect([e.message, e.exitCode]).toEqual(["sh -c failed: error: one; error: two", 1]);
  });
});

/** The pids of `pid`'s children (of any of its threads). */
function childrenOf(pid: number): number[] {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number));
}

describe("a tool killed by a signal", () => {
  it("is 'killed by SIGKILL' when it printed nothing", async () => {
    const e = await failure(check("sh", ["-c", "kill -KILL $$"]));
    expect(e.message).toBe("sh -c failed: killed by SIGKILL");
    const r = await run("sh", ["-c", "kill -KILL $$"]);
    expect([r.code, r.signal]).toEqual([137, "SIGKILL"]);
  });

  it("ends the run as an interrupt when we are interrupted too, even if its death is seen first", async () => {
    // As a Ctrl-C reaches both: the tool's death arrives before our own SIGINT, which a busy
    // process can handle later; it must still exit 130 through the handler, not fail with exit 1.
    const bun = join(projectRoot, "node_modules/.bin/bun");
    for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      const helper = spawn(bun, [join(projectRoot, "test/helpers/interrupted-child.ts")], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      helper.stderr.on("data", (d) => (stderr += d));
      const exit = new Promise<number>((resolve) => helper.on("close", (c, s) => resolve(c ?? (s ? -1 : -2))));
      let tool: number | undefined;
      for (let i = 0; i < 500 && tool === undefined; i++) {
        await new Promise((r) => setTimeout(r, 10));
        tool = childrenOf(helper.pid!)[0];
      }
      expect(tool).toBeDefined();
      process.kill(tool!, signal);
      await new Promise((r) => setTimeout(r, 200));
      helper.kill(signal);
      expect([await exit, stderr]).toEqual([code, `apt-ostree: interrupted (${signal}); temporary output removed\n`]);
    }
  });
});
