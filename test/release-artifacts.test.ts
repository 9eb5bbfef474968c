// The release artifacts themselves (npm run test:release, after scripts/build.sh --target all):
// each binary is an ELF for its architecture and embeds its own architecture's addon byte for byte;
// the addons need no glibc newer than 2.31; `--version` names version, commit and target; the .debs
// carry the binary, man page and completions with the right control fields.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "./helpers/cli";
import { addonArm64, addonX64, binArm64, binX64, builtCommit, debAmd64, debArm64, elfMachine, releaseTests, sh, version } from "./release-helpers";

describe.skipIf(!releaseTests)("release artifacts", () => {
  it("each binary is an ELF for its architecture and embeds exactly its own architecture's addon", () => {
    const x64 = readFileSync(binX64);
    const arm64 = readFileSync(binArm64);
    const ax64 = readFileSync(addonX64);
    const aarm64 = readFileSync(addonArm64);
    expect(elfMachine(x64)).toBe(62);
    expect(elfMachine(arm64)).toBe(183);
    expect(elfMachine(ax64)).toBe(62);
    expect(elfMachine(aarm64)).toBe(183);
    expect(x64.indexOf(ax64)).toBeGreaterThan(0);
    expect(arm64.indexOf(aarm64)).toBeGreaterThan(0);
    expect(x64.indexOf(aarm64)).toBe(-1);
    expect(arm64.indexOf(ax64)).toBe(-1);
    // The build-time constants of each target.
    expect(x64.includes("linux-x64")).toBe(true);
    expect(arm64.includes("linux-arm64")).toBe(true);
  });

  it("the addons and binaries need no glibc symbol newer than 2.31 (scripts/check-elf.sh)", () => {
    for (const [target, files] of [
      ["x64", [addonX64, binX64]],
      ["arm64", [addonArm64, binArm64]],
    ] as const) {
      const r = spawnSync("bash", [join(projectRoot, "scripts/check-elf.sh"), target, ...files], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
    }
  });

  it("check-elf.sh rejects the wrong architecture and a glibc above the floor", () => {
    const wrong = spawnSync("bash", [join(projectRoot, "scripts/check-elf.sh"), "arm64", addonX64], { encoding: "utf8" });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/ELF machine 62, expected 183/);
    // Debian 12's own libc needs GLIBC_2.3x symbols of ld.so: above a 2.30 floor.
    const floor = spawnSync("bash", [join(projectRoot, "scripts/check-elf.sh"), "x64", "/usr/lib/x86_64-linux-gnu/libc.so.6"], {
      encoding: "utf8",
      env: { ...process.env, APT_OSTREE_GLIBC_FLOOR: "2.2.5" },
    });
    expect(floor.status).toBe(1);
    expect(floor.stderr).toMatch(/newer than the floor 2\.2\.5/);
  });

  it("--version names the version, the commit and the target", () => {
    const out = execFileSync(binX64, ["--version"], { encoding: "utf8" }).trim();
    const commit = builtCommit();
    expect(out).toBe(`apt-ostree ${version} (commit ${commit}, linux-x64)`);
    // A real commit of this repository (abbreviated to 12 hex digits), when built from a git checkout.
    if (commit !== "unknown") {
      // "-dirty": built from a working tree with changes not committed.
      expect(commit).toMatch(/^[0-9a-f]{12}(-dirty)?$/);
      expect(spawnSync("git", ["cat-file", "-e", `${commit.replace(/-dirty$/, "")}^{commit}`], { cwd: projectRoot }).status).toBe(0);
    }
  });

  for (const [arch, deb, machine] of [
    ["amd64", debAmd64, 62],
    ["arm64", debArm64, 183],
  ] as const) {
    it(`the ${arch} .deb has the binary, man page, completions and control fields`, () => {
      const info = sh("dpkg-deb", ["--field", deb]);
      expect(info).toMatch(new RegExp(`^Package: apt-ostree$`, "m"));
      expect(info).toMatch(new RegExp(`^Version: ${version.replace(/\./g, "\\.")}$`, "m"));
      expect(info).toMatch(new RegExp(`^Architecture: ${arch}$`, "m"));
      expect(info).toMatch(/^Depends: libc6 \(>= 2\.31\), libgcc-s1$/m);
      expect(info).toMatch(/^Recommends: ostree, mmdebstrap$/m);
      const contents = sh("dpkg-deb", ["--contents", deb]);
      for (const [mode, path] of [
        ["-rwxr-xr-x root/root", "./usr/bin/apt-ostree"],
        ["-rw-r--r-- root/root", "./usr/share/man/man1/apt-ostree.1.gz"],
        ["-rw-r--r-- root/root", "./usr/share/bash-completion/completions/apt-ostree"],
        ["-rw-r--r-- root/root", "./usr/share/zsh/vendor-completions/_apt-ostree"],
        ["-rw-r--r-- root/root", "./usr/share/doc/apt-ostree/copyright"],
        ["-rw-r--r-- root/root", "./usr/share/doc/apt-ostree/changelog.gz"],
      ])
        expect(contents).toMatch(new RegExp(`^${mode.replace(/[/]/g, "\\/")}\\s+\\d+ \\S+ \\S+ ${path.replace(/\./g, "\\.")}$`, "m"));
      // Debian's changelog format, naming the commit; control lines fit 80 columns.
      const changelog = execFileSync("sh", ["-c", `dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./usr/share/doc/apt-ostree/changelog.gz | gzip -d`, "sh", deb]).toString();
      expect(changelog).toMatch(new RegExp(`^apt-ostree \\(${version.replace(/\./g, "\\.")}\\) unstable; urgency=medium\n\n  \\* Built from commit [0-9a-f]{12}\\.\n\n -- .+  \\w{3}, \\d{2} \\w{3} \\d{4} `));
      expect(info.split("\n").filter((l) => l.length > 80)).toEqual([]);
      // The packaged binary is the built one, unstripped.
      const bin = execFileSync("sh", ["-c", `dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./usr/bin/apt-ostree`, "sh", deb], { maxBuffer: 512 << 20 });
      expect(elfMachine(bin)).toBe(machine);
      expect(bin.equals(readFileSync(arch === "amd64" ? binX64 : binArm64))).toBe(true);
    });
  }
});
