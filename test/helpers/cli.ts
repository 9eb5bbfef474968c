// Runs the product as users do: the compiled single binary (dist/apt-ostree-linux-x64), or the
// command in APT_OSTREE_BIN (e.g. "bun src/bin.ts" while iterating).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const projectRoot = resolve(__dirname, "../..");

export function binaryCommand(): string[] {
  if (process.env.APT_OSTREE_BIN) return process.env.APT_OSTREE_BIN.split(/\s+/);
  const bin = join(projectRoot, "dist/apt-ostree-linux-x64");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run 'npm run build' first`);
  return [bin];
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const [cmd, ...pre] = binaryCommand();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, [...pre, ...args], {
      cwd: options.cwd ?? projectRoot,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 600_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** A temporary directory removed after the test file (call the returned cleanup in afterAll). */
export function tempDir(prefix = "apt-ostree-test-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(process.env.APT_OSTREE_TEST_TMP ?? tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}
