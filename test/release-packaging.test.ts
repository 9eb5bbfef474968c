// Packaging files that can go stale (fast; part of `npm test`): the completions and the man page are
// generated from the CLI's `--help` (packaging/generate.ts) and committed, so they must match the CLI
// as it is now; the bash completion parses and completes; the man page renders without warnings.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "./helpers/cli";

const bun = join(projectRoot, "node_modules/.bin/bun");
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

describe("packaging", () => {
  it("completions and man page are up to date with the CLI (bun packaging/generate.ts --check)", () => {
    const r = spawnSync(bun, ["packaging/generate.ts", "--check"], { cwd: projectRoot, encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
  });

  it("the bash completion completes groups, commands, options and option values", () => {
    const complete = (line: string) => {
      const script = `
        source packaging/completions/apt-ostree.bash
        COMP_LINE=${JSON.stringify(line)}
        read -ra COMP_WORDS <<<"$COMP_LINE"
        [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
        _apt_ostree
        printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync("bash", ["-c", script], { cwd: projectRoot, encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim().split("\n");
    };
    expect(complete("apt-ostree ")).toEqual(expect.arrayContaining(["oci", "compose", "login", "logout"]));
    expect(complete("apt-ostree oci ")).toEqual(expect.arrayContaining(["build", "push", "pull", "copy", "inspect", "tags"]));
    expect(complete("apt-ostree oci build --com")).toEqual(["--compression"]);
    expect(complete("apt-ostree oci build --compression ")).toEqual(["gzip", "zstd", "none"]);
    expect(complete("apt-ostree compose base --rel")).toEqual(["--release"]);
  });

  it.skipIf(!has("zsh"))("the zsh completion parses", () => {
    const r = spawnSync("zsh", ["-n", "packaging/completions/_apt-ostree"], { cwd: projectRoot, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
  });

  it.skipIf(!has("man"))("the man page renders without warnings and documents every command", () => {
    const r = spawnSync("man", ["--warnings", "-l", "packaging/apt-ostree.1"], {
      cwd: projectRoot,
      encoding: "utf8",
      env: { ...process.env, MANWIDTH: "100", MANPAGER: "cat", PAGER: "cat" },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.trim()).toBe("");
    for (const command of ["oci build", "oci push", "oci pull", "oci copy", "oci inspect", "oci tags", "compose base", "compose install", "compose remove", "compose commit", "login", "logout"])
      expect(r.stdout).toContain(command);
  });
});
