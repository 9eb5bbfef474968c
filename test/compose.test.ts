// `apt-ostree compose` end to end, through the binary, with real mmdebstrap, apt and ostree:
// bad input first (fast, nothing may be left behind), then one uncached minbase `compose base`,
// the cached bookworm base with systemd and a kernel (`compose commit --rootfs TARBALL`), a package
// installed and removed as child commits, and the bootc export unpacked with umoci.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir, binaryCommand, type CliResult } from "./helpers/cli.ts";
import { debianTarball } from "./helpers/debian.ts";
import { treeManifest } from "./helpers/tree.ts";
import { ociImageToolValidate } from "./helpers/validate.ts";

const isRoot = process.getuid?.() === 0;
const SLOW = 900_000;

function ostree(...args: string[]): string {
  return execFileSync("ostree", args, { encoding: "utf8" });
}

function refs(repo: string): string[] {
  if (!existsSync(join(repo, "config"))) return [];
  return ostree("refs", `--repo=${repo}`, "--list").split("\n").filter(Boolean).sort();
}

function commitCount(repo: string): number {
  const out = spawnSync("find", [join(repo, "objects"), "-name", "*.commit"], { encoding: "utf8" }).stdout;
  return out.split("\n").filter(Boolean).length;
}

function metadataKey(repo: string, ref: string, key: string): string {
  return ostree("show", `--repo=${repo}`, ref, `--print-metadata-key=${key}`).trim();
}

/** One clear line on stderr, nothing on stdout. */
function expectOneLineError(r: CliResult, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^apt-ostree: /);
  expect(lines[0]).toMatch(pattern);
}

function leftovers(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(".apt-ostree-") || n.startsWith("apt-ostree-checkout-")) : [];
}

describe.skipIf(!isRoot)("compose with real mmdebstrap, apt and ostree", () => {
  const tmp = tempDir("apt-ostree-compose-");
  const repo = join(tmp.path, "repo");
  let kernelTarball = "";

  beforeAll(() => {
    // Cached between runs (test/helpers/debian.ts): bookworm minbase + systemd + a kernel.
    kernelTarball = debianTarball({ release: "bookworm", variant: "minbase", include: ["systemd", "systemd-sysv", "linux-image-amd64"] });
  }, SLOW);
  afterAll(() => tmp.cleanup());

  it("refuses bad input at once: unknown release, bad compose file, not root", async () => {
    const unknown = await runCli(["compose", "base", "--release", "buster", "--repo", repo, "--ref", "x"]);
    expectOneLineError(unknown, /unknown release 'buster'; known releases: bullseye, bookworm, trixie, sid, jammy, noble, questing/);
    expect(unknown.code).toBe(2);

    const config = join(tmp.path, "bad.json");
    writeFileSync(config, JSON.stringify({ release: "bookworm", packages: ["systemd", 42] }));
    const bad = await runCli(["compose", "base", "--config", config, "--repo", repo, "--ref", "x"]);
    expectOneLineError(bad, /bad\.json: field 'packages\[1\]'/);
    expect(bad.code).toBe(2);
    // The same reader as oci build's --config: a YAML mistake by its line.
    const yaml = join(tmp.path, "bad.yaml");
    writeFileSync(yaml, "release: bookworm\nrelease: trixie\n");
    const twice = await runCli(["compose", "base", "--config", yaml, "--repo", repo, "--ref", "x"]);
    expectOneLineError(twice, new RegExp(`^apt-ostree: ${yaml}: not valid YAML at line 2, column 1: Map keys must be unique$`));
    expect(twice.code).toBe(2);

    // A tree that is no root filesystem: named as the user named it, not as our copy of it.
    const notRoot = join(tmp.path, "not-a-root");
    mkdirSync(join(notRoot, "etc"), { recursive: true });
    const shaped = await runCli(["compose", "commit", "--rootfs", notRoot, "--repo", repo, "--ref", "x"]);
    expectOneLineError(shaped, new RegExp(`^apt-ostree: cannot reshape ${notRoot}: not a root filesystem: /usr is missing$`));

    // tar's cause, not its closing "Exiting with failure status".
    const junk = join(tmp.path, "junk.tar");
    writeFileSync(junk, Buffer.alloc(4096, 7));
    const unpack = await runCli(["compose", "commit", "--rootfs", junk, "--repo", repo, "--ref", "x"]);
    expectOneLineError(unpack, /cannot unpack .*junk\.tar: This does not look like a tar archive$/);

    if (!existsSync("/usr/share/keyrings/ubuntu-archive-keyring.gpg")) {
      const noble = await runCli(["compose", "base", "--release", "noble", "--repo", repo, "--ref", "x"]);
      expectOneLineError(noble, /ubuntu-archive-keyring\.gpg is missing \(apt-get install ubuntu-keyring\)/);
    }
    if (spawnSync("arch-test", ["riscv64"]).status !== 0) {
      const foreign = await runCli(["compose", "base", "--release", "bookworm", "--arch", "riscv64", "--repo", repo, "--ref", "x"]);
      expectOneLineError(foreign, /cannot run riscv64 programs .*apt-get install qemu-user-static binfmt-support/);
    }

    // Flags are checked as the compose file is, before any work (mmdebstrap would fail late, exit 1).
    const file = join(tmp.path, "a-file");
    writeFileSync(file, "x");
    const others = join(tmp.path, "others");
    mkdirSync(others);
    writeFileSync(join(others, "notes.txt"), "important");
    const SDE = { SOURCE_DATE_EPOCH: "99999999999999" };
    for (const [args, message, env] of [
      [["--include", "systemd,Vim"], /^invalid package 'Vim' in --include: not a Debian package/],
      [["--mirror", "not a url"], /^invalid --mirror 'not a url': expected a URL/],
      [["--mirror", "http://me:secret@mirror.example/debian"], /^--mirror must not hold credentials \(they would be written into the image's sources\.list\)/],
      [["--metadata", "version=9"], /^metadata key 'version' is set by compose \(use --commit-version\)$/],
      [["--metadata", "ostree.ref-binding=zzz"], /^metadata key 'ostree\.ref-binding' is set by compose$/],
      [["--metadata", "bad key=1"], /^invalid --metadata key 'bad key'/],
      [["--commit-version", ""], /^--commit-version must not be empty$/],
      [[], /^SOURCE_DATE_EPOCH 99999999999999 is after the year 9999$/, SDE],
      [["--repo", file], /^--repo .*a-file is not a directory$/],
      [["--repo", join(file, "sub")], /^--repo .*a-file\/sub: .*a-file is not a directory$/],
      [["--repo", others], /^--repo .*others is a directory of other files, not an OSTree repository$/],
    ] as [string[], RegExp, Record<string, string>?][]) {
      const r = await runCli(["compose", "base", "--release", "bookworm", ...(args.includes("--repo") ? [] : ["--repo", repo]), "--ref", "x", ...args], { env });
      expectOneLineError(r, new RegExp(message.source.replace(/^\^/, "^apt-ostree: ")));
      expect(r.code, args.join(" ")).toBe(2);
    }
    expect(readdirSync(others)).toEqual(["notes.txt"]);

    const [cmd, ...pre] = binaryCommand();
    const user = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", cmd, ...pre, "compose", "base", "--release", "bookworm", "--repo", repo, "--ref", "x"], {
      encoding: "utf8",
      cwd: tmp.path,
    });
    expectOneLineError({ code: user.status ?? 1, stdout: user.stdout, stderr: user.stderr }, /must run as root/);
    expect(existsSync(repo)).toBe(false);
  });

  it("composes an uncached minbase with `compose base` (and a compose file)", async () => {
    const config = join(tmp.path, "minbase.json");
    // "repo" is relative to the compose file, not to the working directory (the project here).
    writeFileSync(config, JSON.stringify({ release: "bookworm", variant: "minbase", ref: "debian/minbase", repo: "repo", metadata: { "org.example.team": "os", "org.example.build": 42 } }));
    const r = await runCli(["compose", "base", "--config", config, "--arch", "amd64"], {
      env: { SOURCE_DATE_EPOCH: "1700000000" },
      timeoutMs: SLOW,
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const checksum = r.stdout.trim();
    expect(checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(refs(repo)).toEqual(["debian/minbase"]);
    expect(ostree("rev-parse", `--repo=${repo}`, "debian/minbase").trim()).toBe(checksum);
    expect(ostree("show", `--repo=${repo}`, "debian/minbase")).toContain("Date:  2023-11-14 22:13:20 +0000");
    expect(metadataKey(repo, "debian/minbase", "apt-ostree.release")).toBe("'bookworm'");
    expect(metadataKey(repo, "debian/minbase", "apt-ostree.variant")).toBe("'minbase'");
    expect(metadataKey(repo, "debian/minbase", "apt-ostree.architecture")).toBe("'amd64'");
    expect(metadataKey(repo, "debian/minbase", "version")).toBe("'bookworm.20231114'");
    expect(metadataKey(repo, "debian/minbase", "org.example.team")).toBe("'os'");
    // A number as a string: ostree's --add-metadata would store int64 42 byte-swapped.
    expect(metadataKey(repo, "debian/minbase", "org.example.build")).toBe("'42'");
    // Built from the release's -updates and -security suites too, and kept in sources.list for later installs.
    const sources = ostree("cat", `--repo=${repo}`, "debian/minbase", "/usr/etc/apt/sources.list");
    expect(sources).toMatch(/^deb http:\/\/deb\.debian\.org\/debian bookworm main$/m);
    expect(sources).toMatch(/^deb http:\/\/deb\.debian\.org\/debian bookworm-updates main$/m);
    expect(sources).toMatch(/^deb http:\/\/deb\.debian\.org\/debian-security bookworm-security main$/m);
    // Bound to its ref, as `ostree commit -b` does: `ostree pull` by ref verifies that.
    expect(metadataKey(repo, "debian/minbase", "ostree.ref-binding")).toBe("['debian/minbase']");
    expect(metadataKey(repo, "debian/minbase", "apt-ostree.packages")).toMatch(/'dpkg=1\.21\.[^']+'/);
    expect(spawnSync("ostree", ["show", `--repo=${repo}`, "debian/minbase", "--print-metadata-key=ostree.bootable"]).status).not.toBe(0);
    const top = ostree("ls", `--repo=${repo}`, "debian/minbase", "/");
    expect(top).not.toMatch(/ \/etc$/m);
    expect(ostree("cat", `--repo=${repo}`, "debian/minbase", "/usr/etc/debian_version")).toMatch(/^12\./);
    expect(leftovers(tmp.path)).toEqual([]);
    expect(leftovers(join(repo, "tmp"))).toEqual([]);

    // dpkg -l works in a checkout of the commit, from the outside and inside it.
    const co = join(tmp.path, "co-minbase");
    ostree("checkout", `--repo=${repo}`, "debian/minbase", co);
    expect(execFileSync("dpkg", [`--root=${co}`, "-l", "apt"], { encoding: "utf8" })).toMatch(/^ii\s+apt\s/m);
    expect(execFileSync("chroot", [co, "dpkg", "-l", "dpkg"], { encoding: "utf8" })).toMatch(/^ii\s+dpkg\s/m);

    // An existing ref without --force is refused before any work, and stays where it was.
    const again = await runCli(["compose", "base", "--release", "bookworm", "--repo", repo, "--ref", "debian/minbase"]);
    expectOneLineError(again, /ref 'debian\/minbase' already exists .*--force/);
    expect(again.code).toBe(6);
    expect(ostree("rev-parse", `--repo=${repo}`, "debian/minbase").trim()).toBe(checksum);
  }, SLOW);

  it("an unreachable mirror: apt's own error line, no repository, no ref", async () => {
    const other = join(tmp.path, "repo-unreachable");
    const r = await runCli(["compose", "base", "--release", "bookworm", "--mirror", "http://127.0.0.1:9/debian", "--repo", other, "--ref", "x"], { timeoutMs: SLOW });
    expectOneLineError(r, /mmdebstrap failed: E: Failed to fetch http:\/\/127\.0\.0\.1:9\/debian\/.*Could not connect/);
    expect(r.code).toBe(5);
    expect(existsSync(other)).toBe(false);
    expect(leftovers(tmp.path)).toEqual([]);
    // --no-updates reaches the bootstrap: a --security-mirror then has nothing to serve.
    const alone = await runCli(["compose", "base", "--release", "bookworm", "--mirror", "http://127.0.0.1:9/debian", "--no-updates", "--security-mirror", "http://127.0.0.1:9/sec", "--repo", other, "--ref", "x"], { timeoutMs: SLOW });
    expect(alone.stderr.split("\n")[0]).toBe("apt-ostree: warning: --security-mirror has no effect: --no-updates");
    expect(alone.code).toBe(5);
  }, SLOW);

  it("an interrupted compose base (SIGINT during mmdebstrap) leaves no build tree, no mount, no repository", async () => {
    const other = join(tmp.path, "repo-interrupted");
    const [cmd, ...pre] = binaryCommand();
    const child = spawn(cmd, [...pre, "compose", "base", "--release", "bookworm", "--repo", other, "--ref", "x"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number>((resolveExit) => child.on("close", (code, signal) => resolveExit(code ?? (signal ? 128 : 1))));
    // Wait until mmdebstrap is unpacking packages into the build tree.
    const unpacking = () => leftovers(tmp.path).some((d) => existsSync(join(tmp.path, d, "usr/bin/dpkg")));
    for (let i = 0; i < 1800 && !unpacking(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(unpacking()).toBe(true);
    await new Promise((r) => setTimeout(r, 2000));
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    expect(leftovers(tmp.path)).toEqual([]);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(join(tmp.path, ".apt-ostree-"));
    expect(existsSync(other)).toBe(false);
  }, SLOW);

  it("commits the cached bookworm base with systemd and a kernel in the OSTree/bootc shape", async () => {
    const r = await runCli(["compose", "commit", "--rootfs", kernelTarball, "--repo", repo, "--ref", "debian/bookworm", "--variant", "minbase", "--json"], {
      env: { SOURCE_DATE_EPOCH: "1700000000" },
      timeoutMs: SLOW,
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ ref: "debian/bookworm", repo });
    expect(result.checksum).toMatch(/^[0-9a-f]{64}$/);
    const kver = result.metadata["ostree.linux"] as string;
    expect(kver).toMatch(/^6\.1\.\d+-\d+-amd64$/);
    expect(result.metadata).toMatchObject({ "ostree.bootable": true, "apt-ostree.release": "bookworm", "apt-ostree.architecture": "amd64", version: "bookworm.20231114" });
    const pkgs = result.metadata["apt-ostree.packages"] as string[];
    expect(pkgs.some((p) => p.startsWith("systemd="))).toBe(true);
    expect(pkgs.some((p) => p.startsWith(`linux-image-${kver}=`))).toBe(true);
    expect(pkgs).toEqual([...pkgs].sort((a, b) => (a.split("=")[0] < b.split("=")[0] ? -1 : 1)));

    // The same metadata, read back with the ostree CLI.
    expect(metadataKey(repo, "debian/bookworm", "ostree.bootable")).toBe("true");
    expect(metadataKey(repo, "debian/bookworm", "ostree.linux")).toBe(`'${kver}'`);
    expect(metadataKey(repo, "debian/bookworm", "apt-ostree.packages")).toContain("'systemd=");

    const ls = (path: string) => ostree("ls", `--repo=${repo}`, "debian/bookworm", path);
    const top = ls("/");
    for (const [name, target] of Object.entries({ home: "var/home", root: "var/roothome", opt: "var/opt", srv: "var/srv", mnt: "var/mnt", media: "run/media", ostree: "sysroot/ostree" })) {
      expect(top).toContain(` /${name} -> ${target}\n`);
    }
    expect(top).not.toMatch(/ \/etc$/m);
    expect(top).not.toMatch(/ \/(vmlinuz|initrd\.img)/);
    for (const d of ["boot", "dev", "proc", "sys", "run", "tmp", "sysroot"]) {
      expect(ls(`/${d}`).trim().split("\n")).toHaveLength(1);
    }
    // /var: only the link to the dpkg database
    expect(ostree("ls", "-R", `--repo=${repo}`, "debian/bookworm", "/var").trim().split("\n").slice(1).map((l) => l.split(/\s+/).slice(4).join(" "))).toEqual([
      "/var/lib",
      "/var/lib/dpkg -> ../../usr/share/dpkg/database",
    ]);
    const modules = ls(`/usr/lib/modules/${kver}`);
    expect(modules).toMatch(new RegExp(`/usr/lib/modules/${kver.replace(/\./g, "\\.")}/vmlinuz$`, "m"));
    expect(modules).toMatch(/\/initramfs\.img$/m);
    // What else the kernel package put in /boot (dpkg --verify would miss it otherwise).
    expect(modules).toMatch(/\/System\.map$/m);
    expect(modules).toMatch(/\/config$/m);
    expect(ostree("cat", `--repo=${repo}`, "debian/bookworm", "/usr/share/dpkg/database/status")).toContain("Package: systemd\n");
    expect(ostree("cat", `--repo=${repo}`, "debian/bookworm", "/usr/lib/os-release")).toContain("VERSION_CODENAME=bookworm");
    // /etc/os-release is the relative link ../usr/lib/os-release: right again once /usr/etc is /etc
    expect(ostree("ls", `--repo=${repo}`, "debian/bookworm", "/usr/etc/os-release")).toContain("-> ../usr/lib/os-release");
    expect(ostree("cat", `--repo=${repo}`, "debian/bookworm", "/usr/lib/ostree/prepare-root.conf")).toContain("[composefs]");
    const tmpfiles = ostree("cat", `--repo=${repo}`, "debian/bookworm", "/usr/lib/tmpfiles.d/apt-ostree-var.conf");
    expect(tmpfiles).toContain("L /var/lib/dpkg - - - - ../../usr/share/dpkg/database");
    expect(tmpfiles).toContain("C /var/lib/apt/extended_states - - - - /usr/share/factory/var/lib/apt/extended_states");
    expect(tmpfiles).toContain("d /var/roothome 0700 0 0 -");
    // /root's files wait in the factory, under /usr which everyone can read: its directory is as private as /root.
    expect(ostree("ls", "-d", `--repo=${repo}`, "debian/bookworm", "/usr/share/factory/var/roothome")).toMatch(/^d00700 0 0 /);
    expect(ostree("ls", `--repo=${repo}`, "debian/bookworm", "/usr/local")).toContain("/usr/local -> ../var/usrlocal");
    expect(tmpfiles).toMatch(/^d \/var\/usrlocal\/bin \d+ \d+ \d+ -$/m);
    expect(ostree("show", `--repo=${repo}`, "debian/bookworm")).toContain("Date:  2023-11-14 22:13:20 +0000");

    // dpkg and systemd's own tools see the system in a checkout
    const co = join(tmp.path, "co-bookworm");
    ostree("checkout", `--repo=${repo}`, "debian/bookworm", co);
    expect(execFileSync("chroot", [co, "dpkg", "-l", "systemd", `linux-image-${kver}`], { encoding: "utf8" })).toMatch(/^ii\s+systemd\s/m);
    expect(readdirSync(join(co, "boot"))).toEqual([]);
    expect(lstatSync(join(co, "var/lib/dpkg")).isSymbolicLink()).toBe(true);

    // Committing that checkout again (`compose commit --rootfs DIR`) gives the very same content:
    // the reshape is idempotent, and /var is described again from its tmpfiles.d lines.
    const again = await runCli(["compose", "commit", "--rootfs", co, "--repo", repo, "--ref", "debian/recommitted"], { timeoutMs: SLOW });
    expect(again.code).toBe(0);
    const content = (ref: string) => ostree("show", `--repo=${repo}`, ref).match(/ContentChecksum:\s+(\w+)/)![1];
    expect(content("debian/recommitted")).toBe(content("debian/bookworm"));
    expect(readdirSync(join(co, "boot"))).toEqual([]);
  }, SLOW);

  it("installs a package as a child commit", async () => {
    const base = ostree("rev-parse", `--repo=${repo}`, "debian/bookworm").trim();
    const r = await runCli(["compose", "install", "hello", "--repo", repo, "--from", "debian/bookworm", "--ref", "debian/hello", "--json"], { timeoutMs: SLOW });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.parent).toBe(base);
    expect(ostree("rev-parse", `--repo=${repo}`, "debian/hello^").trim()).toBe(base);
    expect(ostree("rev-parse", `--repo=${repo}`, "debian/bookworm").trim()).toBe(base);
    expect(result.metadata["apt-ostree.packages"]).toContainEqual(expect.stringMatching(/^hello=2\.10/));
    expect(result.metadata["ostree.bootable"]).toBe(true);
    expect(metadataKey(repo, "debian/hello", "apt-ostree.packages")).toContain("'hello=2.10");
    expect(metadataKey(repo, "debian/hello", "ostree.ref-binding")).toBe("['debian/hello']");
    const co = join(tmp.path, "co-hello");
    ostree("checkout", `--repo=${repo}`, "debian/hello", co);
    expect(execFileSync("chroot", [co, "/usr/bin/hello"], { encoding: "utf8" })).toBe("Hello, world!\n");
    expect(execFileSync("chroot", [co, "dpkg", "-l", "hello"], { encoding: "utf8" })).toMatch(/^ii\s+hello\s+2\.10/m);
    expect(readdirSync(join(co, "boot"))).toEqual([]);
    expect(readdirSync(join(co, "var"))).toEqual(["lib"]);
    expect(existsSync(join(co, "etc"))).toBe(false);
    expect(leftovers(join(repo, "tmp"))).toEqual([]);
  }, SLOW);

  it("a package that does not exist: apt's message, no commit, no ref", async () => {
    const before = { refs: refs(repo), commits: commitCount(repo) };
    // A compose file written for another release: install says it uses the commit's.
    const file = join(tmp.path, "trixie.json");
    writeFileSync(file, JSON.stringify({ release: "trixie" }));
    const r = await runCli(["compose", "install", "no-such-package-apt-ostree", "--repo", repo, "--from", "debian/bookworm", "--ref", "debian/broken", "--config", file], { timeoutMs: SLOW });
    const [warning, ...rest] = r.stderr.trim().split("\n");
    expect(warning).toBe("apt-ostree: warning: the compose file's release trixie is not debian/bookworm's (bookworm): install uses debian/bookworm's");
    expectOneLineError({ ...r, stderr: rest.join("\n") }, /E: Unable to locate package no-such-package-apt-ostree/);
    expect(r.code).toBe(3);
    expect(refs(repo)).toEqual(before.refs);
    expect(commitCount(repo)).toBe(before.commits);
    expect(leftovers(join(repo, "tmp"))).toEqual([]);
  }, SLOW);

  it("an interrupted install (SIGINT) leaves no build tree, no mount, no ref", async () => {
    const before = refs(repo);
    const [cmd, ...pre] = binaryCommand();
    const child = spawn(cmd, [...pre, "compose", "install", "hello", "--repo", repo, "--from", "debian/bookworm", "--ref", "debian/interrupted"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number>((resolveExit) => child.on("close", (code, signal) => resolveExit(code ?? (signal ? 128 : 1))));
    // Wait until apt runs chrooted in the checkout (a process whose root is inside repo/tmp).
    const chrooted = () =>
      readdirSync("/proc").some((pid) => {
        try {
          return /^\d+$/.test(pid) && readlinkSync(`/proc/${pid}/root`).startsWith(join(repo, "tmp") + "/");
        } catch {
          return false;
        }
      });
    for (let i = 0; i < 1200 && !chrooted(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(chrooted()).toBe(true);
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    expect(leftovers(join(repo, "tmp"))).toEqual([]);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(repo);
    expect(refs(repo)).toEqual(before);
    for (let i = 0; i < 50 && chrooted(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(chrooted()).toBe(false);
  }, SLOW);

  it("removes a package as a child commit", async () => {
    const r = await runCli(["compose", "remove", "hello", "--autoremove", "--repo", repo, "--from", "debian/hello", "--ref", "debian/no-hello"], { timeoutMs: SLOW });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(ostree("show", `--repo=${repo}`, "debian/no-hello")).toContain("apt-ostree compose remove --autoremove hello");
    expect(ostree("rev-parse", `--repo=${repo}`, "debian/no-hello^").trim()).toBe(ostree("rev-parse", `--repo=${repo}`, "debian/hello").trim());
    expect(metadataKey(repo, "debian/no-hello", "apt-ostree.packages")).not.toContain("'hello=");
    expect(spawnSync("ostree", ["ls", `--repo=${repo}`, "debian/no-hello", "/usr/bin/hello"]).status).not.toBe(0);
    const missing = await runCli(["compose", "remove", "hello", "--repo", repo, "--from", "debian/no-hello", "--ref", "debian/x"]);
    expectOneLineError(missing, /not installed in debian\/no-hello: hello/);
    expect(missing.code).toBe(3);
  }, SLOW);

  it("exports the kernel commit as a bootc image (oci build --bootc), unpacked with umoci", async () => {
    const out = join(tmp.path, "img");
    const r = await runCli(["oci", "build", "--source", "debian/bookworm", "--repo", repo, "--output", `oci:${out}:latest`, "--bootc"], { timeoutMs: SLOW });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const inspect = JSON.parse(execFileSync("skopeo", ["inspect", `oci:${out}:latest`], { encoding: "utf8" }));
    expect(inspect.Labels).toMatchObject({ "containers.bootc": "1", "ostree.bootable": "true" });
    // As bootc's base images: `podman run IMAGE` boots it.
    expect(JSON.parse(execFileSync("skopeo", ["inspect", "--config", `oci:${out}:latest`], { encoding: "utf8" })).config.Cmd).toEqual(["/sbin/init"]);
    // The programs are amd64: another --arch is refused; a commit without a kernel gets a warning with --bootc.
    const arm = await runCli(["oci", "build", "--source", "debian/bookworm", "--repo", repo, "--output", join(tmp.path, "img-arm"), "--arch", "arm64"]);
    expectOneLineError(arm, /--arch arm64 contradicts the commit's architecture amd64/);
    expect(arm.code).toBe(2);
    const noKernel = await runCli(["oci", "build", "--source", "debian/minbase", "--repo", repo, "--output", join(tmp.path, "img-nokernel"), "--bootc", "--json"], { timeoutMs: SLOW });
    expect(noKernel.code, noKernel.stderr).toBe(0);
    expect(JSON.parse(noKernel.stdout).warnings).toEqual([expect.stringMatching(/^--bootc: the tree has no kernel/), expect.stringMatching(/^--bootc: the tree has no \/sbin\/init/)]);
    expect(JSON.parse(execFileSync("skopeo", ["inspect", "--config", `oci:${join(tmp.path, "img-nokernel")}`], { encoding: "utf8" })).config.Cmd).toBeUndefined();
    // By default a tree with a dpkg database is split into (at most 8) layers by package.
    expect(inspect.Layers.length).toBeGreaterThan(2);
    expect(inspect.Layers.length).toBeLessThanOrEqual(8);
    const bundle = join(tmp.path, "bundle");
    execFileSync("umoci", ["unpack", "--image", `${out}:latest`, bundle], { stdio: "ignore" });
    const rootfs = join(bundle, "rootfs");
    expect(readdirSync(join(rootfs, "boot"))).toEqual([]);
    // The cmd --bootc set is there to run.
    expect(readlinkSync(join(rootfs, "usr/sbin/init"))).toMatch(/systemd$/);
    const kernels = readdirSync(join(rootfs, "usr/lib/modules")).filter((k) => existsSync(join(rootfs, "usr/lib/modules", k, "vmlinuz")));
    expect(kernels).toHaveLength(1);
    expect(existsSync(join(rootfs, "usr/lib/modules", kernels[0], "initramfs.img"))).toBe(true);
    expect(readFileSync(join(rootfs, "etc/os-release"), "utf8")).toContain("bookworm");
    expect(existsSync(join(rootfs, "usr/etc"))).toBe(false);
    expect(lstatSync(join(rootfs, "sysroot")).isDirectory()).toBe(true);
    expect(readFileSync(join(rootfs, "usr/share/dpkg/database/status"), "utf8")).toContain("Package: systemd\n");
  }, SLOW);

  it("splits the kernel commit into layers by dpkg package (--max-layers): each file in one layer, the same tree, an update changes two layers", async () => {
    const out = join(tmp.path, "img-split");
    const build = async (output: string, ref = "debian/bookworm", env: Record<string, string> = {}, from = repo) => {
      const r = await runCli(["oci", "build", "--source", ref, "--repo", from, "--output", `oci:${output}:latest`, "--bootc", "--max-layers", "6", "--json"], { timeoutMs: SLOW, env });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout);
    };
    const result = await build(out);
    const layers: { digest: string; packages?: string[]; entries: number }[] = result.layers;
    expect(layers.length).toBeGreaterThan(2);
    expect(layers.length).toBeLessThanOrEqual(6);
    // The kernel, the largest package by far, has a layer of its own; the last layer holds what no package owns.
    expect(layers[0].packages).toEqual([expect.stringMatching(/^linux-image-\d/)]);
    expect(layers.at(-1)!.packages).toBeUndefined();
    for (const l of layers.slice(0, -1)) expect(l.packages!.length).toBeGreaterThan(0);
    const manifest = JSON.parse(readFileSync(join(out, "blobs/sha256", result.digest.slice(7)), "utf8"));
    expect(manifest.layers.map((l: any) => l.annotations?.["ostree.components"])).toEqual(layers.map((l) => l.packages?.join(",")));
    // Every file, link and device is in exactly one layer; directories may repeat.
    const seen = new Map<string, number>();
    layers.forEach((l, i) => {
      const names = execFileSync("tar", ["-tzf", join(out, "blobs/sha256", l.digest.slice(7))], { maxBuffer: 64 << 20 }).toString().split("\n").filter(Boolean);
      expect(names).toHaveLength(l.entries);
      for (const n of names) {
        if (n.endsWith("/")) continue;
        expect(seen.has(n), `${n} in layers ${seen.get(n)} and ${i}`).toBe(false);
        seen.set(n, i);
      }
    });
    expect(seen.get("usr/bin/bash")).toBe(layers.findIndex((l) => l.packages?.includes("bash")));
    expect(seen.get("etc/os-release") !== undefined).toBe(true);
    expect(seen.get("usr/share/dpkg/database/status")).toBe(layers.length - 1);
    // What compose moved out of /boot, and the initramfs, go with the kernel package (not to the last layer).
    const kver = layers[0].packages![0].slice("linux-image-".length);
    for (const f of ["vmlinuz", "initramfs.img", "System.map", "config"]) expect(seen.get(`usr/lib/modules/${kver}/${f}`), f).toBe(0);
    ociImageToolValidate(out, "latest");
    // Unpacked, the layers give exactly the tree of the one-layer image.
    const bundle = join(tmp.path, "bundle-split");
    execFileSync("umoci", ["unpack", "--image", `${out}:latest`, bundle], { stdio: "ignore" });
    const one = join(tmp.path, "img-one");
    const r = await runCli(["oci", "build", "--source", "debian/bookworm", "--repo", repo, "--output", `oci:${one}:latest`, "--bootc", "--max-layers", "1", "--json"], { timeoutMs: SLOW });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).layers).toHaveLength(1);
    execFileSync("umoci", ["unpack", "--image", `${one}:latest`, join(tmp.path, "bundle-one")], { stdio: "ignore" });
    // Hardlinks too: a checkout hardlinks files of equal content (one OSTree object), and a split
    // keeps each such group in one layer.
    expect(treeManifest(join(bundle, "rootfs"))).toEqual(treeManifest(join(tmp.path, "bundle-one", "rootfs")));
    // Deterministic: a second build gives the same digests.
    const again = await build(join(tmp.path, "img-split-2"));
    expect(again.digest).toBe(result.digest);
    // The bare repository is read in place; a full checkout of the commit gives the same bytes.
    const viaCheckout = await build(join(tmp.path, "img-split-co"), "debian/bookworm", { APT_OSTREE_READ: "checkout" });
    expect(viaCheckout.digest).toBe(result.digest);
    // The commit pulled into an archive repository (compressed objects) is read in place too, to
    // the same bytes.
    const archive = join(tmp.path, "archive-repo");
    execFileSync("ostree", ["init", `--repo=${archive}`, "--mode=archive"]);
    execFileSync("ostree", ["pull-local", `--repo=${archive}`, repo, "debian/bookworm"]);
    const viaArchive = await build(join(tmp.path, "img-split-archive"), "debian/bookworm", {}, archive);
    expect(viaArchive.digest).toBe(result.digest);
    // What package layers are for: the child commit with `hello` installed shares every layer but
    // the one hello falls into and the last (which holds the dpkg database).
    const child = await build(join(tmp.path, "img-split-hello"), "debian/hello");
    expect(child.layers).toHaveLength(layers.length);
    const before = new Set(layers.map((l) => l.digest));
    const changed = child.layers.map((l: { digest: string }, i: number) => (before.has(l.digest) ? -1 : i)).filter((i: number) => i >= 0);
    const helloLayer = child.layers.findIndex((l: { packages?: string[] }) => l.packages?.includes("hello"));
    expect(helloLayer).toBeGreaterThanOrEqual(0);
    expect(changed).toEqual([helloLayer, layers.length - 1]);
  }, SLOW);
});
