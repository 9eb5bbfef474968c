// Pure parts of compose, under Node: release table, compose file schema, mmdebstrap command line
// and errors, tmpfiles.d lines, the reshape plan, metadata; plus the reshape round trip
// (reshape -> undo -> reshape) on a small synthetic tree.
import { describe, expect, it, afterAll } from "vitest";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { archiveSources, checkArchitecture, checkVariant, defaultMirror, findRelease, knownReleaseNames, runsNatively } from "../src/compose/releases.ts";
import { parseComposeFile } from "../src/compose/config.ts";
import { bootstrapErrorLine, mmdebstrapArgs, progressStep } from "../src/compose/mmdebstrap.ts";
import { escapeField, formatLine, parseTmpfiles, unescapeField } from "../src/compose/tmpfiles.ts";
import { planTop, planUndo, planVar, ReshapeError, type Entry, type TopScan } from "../src/compose/reshape-plan.ts";
import { buildMetadata, compareVersions, defaultVersion, parseMetadataFlag, sourceDateEpoch } from "../src/compose/metadata.ts";
import { packageList, parseDpkgQuery } from "../src/compose/packages.ts";
import { reshapeTree, unreshapeTree } from "../src/compose/reshape.ts";
import { gvariantText, setRef } from "../src/ostree.ts";
import { UserError } from "../src/errors.ts";
import { tempDir } from "./helpers/cli.ts";

describe("releases", () => {
  it("knows Debian and Ubuntu releases with their archives", () => {
    expect(knownReleaseNames()).toEqual(["bullseye", "bookworm", "trixie", "sid", "jammy", "noble", "questing"]);
    const bookworm = findRelease("bookworm");
    expect(bookworm.distro).toBe("debian");
    expect(defaultMirror(bookworm, "arm64")).toBe("http://deb.debian.org/debian");
    const noble = findRelease("noble");
    expect(noble.keyring).toBe("/usr/share/keyrings/ubuntu-archive-keyring.gpg");
    expect(noble.components).toEqual(["main", "universe"]);
    expect(defaultMirror(noble, "amd64")).toBe("http://archive.ubuntu.com/ubuntu");
    expect(defaultMirror(noble, "arm64")).toBe("http://ports.ubuntu.com/ubuntu-ports");
  });
  it("refuses unknown releases, architectures and variants with the known ones", () => {
    expect(() => findRelease("buster")).toThrow(/unknown release 'buster'; known releases: bullseye, bookworm, trixie, sid, jammy, noble, questing/);
    try {
      findRelease("hamm");
    } catch (e) {
      expect((e as UserError).exitCode).toBe(2);
    }
    expect(() => checkArchitecture("sparc")).toThrow(/unknown architecture 'sparc'/);
    expect(checkArchitecture("arm64")).toBe("aarch64");
    expect(() => checkVariant("buildd")).toThrow(/minbase, apt, important, standard/);
    expect(runsNatively("amd64", "i386")).toBe(true);
    expect(runsNatively("amd64", "arm64")).toBe(false);
  });
});

describe("compose file", () => {
  it("accepts a full compose file", () => {
    const c = parseComposeFile({
      release: "bookworm",
      arch: "amd64",
      variant: "minbase",
      packages: ["systemd", "linux-image-amd64"],
      mirror: "http://deb.debian.org/debian",
      components: ["main", "contrib"],
      ref: "debian/bookworm",
      metadata: { "org.example.team": "os", "org.example.tags": ["a", "b"] },
    });
    expect(c.packages).toEqual(["systemd", "linux-image-amd64"]);
  });
  it("names the bad field in one line", () => {
    expect(() => parseComposeFile({ release: "bookworm", packages: ["ok", 3] }, "c.json")).toThrow(/^c\.json: field 'packages\[1\]': .*expected string/);
    expect(() => parseComposeFile({ release: "buster" }, "c.json")).toThrow(/field 'release': unknown release/);
    expect(() => parseComposeFile({ relase: "bookworm" }, "c.json")).toThrow("c.json: unknown field 'relase'");
    expect(() => parseComposeFile({ mirror: "not a url" }, "c.json")).toThrow(/field 'mirror'/);
    expect(() => parseComposeFile({ metadata: { ok: { nested: 1 } } }, "c.json")).toThrow(/field 'metadata\.ok'/);
    expect(() => parseComposeFile({ variant: "huge" }, "c.json")).toThrow(/field 'variant'/);
    expect(parseComposeFile({ repoMode: "archive", securityMirror: "http://m/sec", metadata: { camelKey: "x" } }, "c.json")).toEqual({ "repo-mode": "archive", "security-mirror": "http://m/sec", metadata: { camelKey: "x" } });
    expect(() => parseComposeFile({ repoMode: "archive", "repo-mode": "bare" }, "c.json")).toThrow("c.json: field 'repo-mode' given twice (as 'repoMode' too)");
    expect(() => parseComposeFile({ packages: ["Bad Name"] }, "c.json")).toThrow(/field 'packages\[0\]': not a Debian package \(a lowercase name/);
  });

});

describe("package names", () => {
  it("takes what apt takes, and refuses what cannot be a package", async () => {
    const { PACKAGE_NAME } = await import("../src/compose/config.ts");
    for (const ok of ["vim", "libc6:amd64", "foo=1.2-3", "foo/bookworm-backports", "g++", "foo-", "foo+", "./x.deb", "/srv/debs/Foo_1.0.deb"]) expect(PACKAGE_NAME.test(ok), ok).toBe(true);
    for (const bad of ["Vim", "-x", "a b", "", "foo/", "Foo.deb"]) expect(PACKAGE_NAME.test(bad), bad).toBe(false);
  });
});

describe("mmdebstrap", () => {
  it("builds the command line", () => {
    const args = mmdebstrapArgs({
      release: "bookworm",
      arch: "arm64",
      variant: "minbase",
      include: ["systemd", "linux-image-arm64"],
      sources: ["deb http://deb.debian.org/debian bookworm main contrib"],
      components: ["main", "contrib"],
      target: "/tmp/x",
    });
    expect(args).toContain("--variant=minbase");
    expect(args).toContain("--architectures=arm64");
    expect(args).toContain("--include=systemd,linux-image-arm64");
    expect(args).toContain("--components=main,contrib");
    expect(args.slice(-3)).toEqual(["bookworm", "/tmp/x", "deb http://deb.debian.org/debian bookworm main contrib"]);
    expect(args.some((a) => a.startsWith("--keyring"))).toBe(false);
  });
  it("takes a stable release's -updates and -security suites too, unless told not to", () => {
    const bookworm = findRelease("bookworm");
    expect(archiveSources({ release: bookworm, mirror: "http://m/debian", components: ["main", "contrib"], updates: true })).toEqual([
      "deb http://m/debian bookworm main contrib",
      "deb http://m/debian bookworm-updates main contrib",
      "deb http://deb.debian.org/debian-security bookworm-security main contrib",
    ]);
    expect(archiveSources({ release: bookworm, mirror: "http://m/debian", components: ["main"], updates: true, securityMirror: "http://m/sec" })[2]).toBe("deb http://m/sec bookworm-security main");
    expect(archiveSources({ release: bookworm, mirror: "http://m/debian", components: ["main"], updates: false })).toEqual(["deb http://m/debian bookworm main"]);
    // sid has neither; Ubuntu's -security suite is in its main archive.
    expect(archiveSources({ release: findRelease("sid"), mirror: "http://m/debian", components: ["main"], updates: true })).toHaveLength(1);
    expect(archiveSources({ release: findRelease("noble"), mirror: "http://a/ubuntu", components: ["main"], updates: true })).toEqual([
      "deb http://a/ubuntu noble main",
      "deb http://a/ubuntu noble-updates main",
      "deb http://a/ubuntu noble-security main",
    ]);
  });
  it("a ref another run made meanwhile is exit 6, as one that existed before", async () => {
    const tmp = tempDir("compose-unit-ref-");
    try {
      const repo = join(tmp.path, "repo");
      spawnSync("ostree", ["init", `--repo=${repo}`, "--mode=bare-user"]);
      mkdirSync(join(tmp.path, "t"));
      const commit = spawnSync("ostree", ["commit", `--repo=${repo}`, "--orphan", `--tree=dir=${join(tmp.path, "t")}`], { encoding: "utf8" }).stdout.trim();
      await setRef(repo, "race", commit);
      const error = await setRef(repo, "race", commit).catch((e) => e);
      expect(error).toBeInstanceOf(UserError);
      expect([error.exitCode, error.message]).toEqual([6, `ref 'race' was made in ${repo} by another run meanwhile; use --force to move it`]);
      await setRef(repo, "race", commit, true);
    } finally {
      tmp.cleanup();
    }
  });
  it("picks apt's own error line", () => {
    const missing = [
      "I: running apt-get update...",
      "E: Unable to locate package nosuchpackage",
      "E: apt-get --yes -oApt::Get::Download-Only=true install failed",
      "E: mmdebstrap failed",
    ].join("\n");
    expect(bootstrapErrorLine(missing)).toBe("E: Unable to locate package nosuchpackage");
    const mirror = [
      "Err:1 http://127.0.0.1:9/debian bookworm InRelease",
      "  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)",
      "E: Failed to fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)",
      "E: apt-get update -oAPT::Status-Fd=<$fh> -oDpkg::Use-Pty=false failed",
    ].join("\n");
    expect(bootstrapErrorLine(mirror)).toMatch(/^E: Failed to fetch http:\/\/127\.0\.0\.1:9\/debian\/dists\/bookworm\/InRelease Could not connect/);
    expect(progressStep("I: downloading packages with apt...")).toBe("downloading packages with apt");
    expect(progressStep("Get:1 http://x")).toBeUndefined();
  });
});

describe("tmpfiles.d", () => {
  it("escapes and parses fields", () => {
    expect(escapeField("/var/lib/a b%c\\d")).toBe("/var/lib/a\\x20b%%c\\\\d");
    expect(unescapeField(escapeField("/var/lib/a b%c\\d\tx"))).toBe("/var/lib/a b%c\\d\tx");
    const text = [
      "# comment",
      "d /var/lib/x 0755 0 0 -",
      "L+ /var/run - - - - /run",
      "d /run/user/%U 0700 - - -",
      "#apt-ostree: C /var/lib/y - - - - /usr/share/factory/var/lib/y",
      formatLine({ type: "d", path: "/var/lib/with space", mode: "0700", user: "0", group: "0" }),
    ].join("\n");
    const plain = parseTmpfiles(text);
    expect(plain.map((l) => l.path)).toEqual(["/var/lib/x", "/var/run", "/var/lib/with space"]);
    expect(plain[1]).toMatchObject({ type: "L+", argument: "/run" });
    const all = parseTmpfiles(text, "#apt-ostree:");
    expect(all.map((l) => l.path)).toContain("/var/lib/y");
  });
});

const dir = (path: string, mode = 0o755, uid = 0, gid = 0): Entry => ({ path, type: "dir", mode: 0o40000 | mode, uid, gid });
const file = (path: string, mode = 0o644): Entry => ({ path, type: "file", mode: 0o100000 | mode, uid: 0, gid: 0 });
const link = (path: string, target: string): Entry => ({ path, type: "symlink", mode: 0o120777, uid: 0, gid: 0, target });

function debianScan(): TopScan {
  return {
    top: [dir("usr"), dir("etc"), dir("var"), dir("boot"), dir("home"), dir("root", 0o700), dir("opt"), dir("srv"), dir("mnt"), dir("media"), dir("dev"), dir("proc"), dir("sys"), dir("run"), dir("tmp", 0o1777), link("vmlinuz", "boot/vmlinuz-6.1.0-50-amd64"), link("bin", "usr/bin")],
    boot: [file("boot/vmlinuz-6.1.0-50-amd64"), file("boot/initrd.img-6.1.0-50-amd64"), file("boot/config-6.1.0-50-amd64")],
    opt: [dir("opt/vendor")],
    modules: ["6.1.0-50-amd64"],
    usrEtc: false,
    dpkgDatabase: false,
    varLibDpkg: dir("var/lib/dpkg"),
    usrLocal: dir("usr/local"),
    prepareRootConf: false,
  };
}

describe("reshape plan", () => {
  it("moves /etc, the kernel, the dpkg database and links /home and friends into /var", () => {
    const plan = planTop(debianScan());
    const ops = plan.ops;
    expect(plan.kernels).toEqual(["6.1.0-50-amd64"]);
    expect(ops).toContainEqual({ op: "move", from: "etc", to: "usr/etc" });
    expect(ops).toContainEqual({ op: "move", from: "boot/vmlinuz-6.1.0-50-amd64", to: "usr/lib/modules/6.1.0-50-amd64/vmlinuz" });
    expect(ops).toContainEqual({ op: "move", from: "boot/initrd.img-6.1.0-50-amd64", to: "usr/lib/modules/6.1.0-50-amd64/initramfs.img" });
    expect(ops).toContainEqual({ op: "move", from: "boot/config-6.1.0-50-amd64", to: "usr/lib/modules/6.1.0-50-amd64/config" });
    expect(plan.warnings).toEqual([]);
    expect(ops).toContainEqual({ op: "remove", path: "vmlinuz" });
    expect(ops).toContainEqual({ op: "move", from: "var/lib/dpkg", to: "usr/share/dpkg/database" });
    expect(ops).toContainEqual({ op: "symlink", path: "var/lib/dpkg", target: "../../usr/share/dpkg/database" });
    expect(ops).toContainEqual({ op: "move", from: "home", to: "var/home" });
    expect(ops).toContainEqual({ op: "move", from: "root", to: "var/roothome" });
    expect(ops).toContainEqual({ op: "move", from: "usr/local", to: "var/usrlocal" });
    expect(ops).toContainEqual({ op: "symlink", path: "usr/local", target: "../var/usrlocal" });
    // Already a link (a reshaped tree): left alone; missing: made.
    expect(planTop({ ...debianScan(), usrLocal: link("usr/local", "../var/usrlocal") }).ops.filter((o) => JSON.stringify(o).includes("usrlocal"))).toEqual([]);
    expect(planTop({ ...debianScan(), usrLocal: undefined }).ops).toContainEqual({ op: "mkdir", path: "var/usrlocal", mode: 0o755 });
    expect(ops).toContainEqual({ op: "move", from: "opt/vendor", to: "usr/lib/opt/vendor" });
    expect(ops).toContainEqual({ op: "symlink", path: "var/opt/vendor", target: "../../usr/lib/opt/vendor" });
    for (const [name, target] of Object.entries({ home: "var/home", root: "var/roothome", opt: "var/opt", srv: "var/srv", mnt: "var/mnt", media: "run/media" })) {
      expect(ops).toContainEqual({ op: "symlink", path: name, target });
    }
    for (const name of ["dev", "proc", "sys", "run", "tmp", "boot", "sysroot"]) expect(ops.some((o) => o.op === "emptyDir" && o.path === name)).toBe(true);
    expect(ops).toContainEqual({ op: "symlink", path: "ostree", target: "sysroot/ostree" });
    expect(ops.some((o) => o.op === "write" && o.path === "usr/lib/ostree/prepare-root.conf")).toBe(true);
    // /boot is emptied only after the kernel left it
    const kernelMove = ops.findIndex((o) => o.op === "move" && o.from.startsWith("boot/vmlinuz"));
    const bootEmptied = ops.findIndex((o) => o.op === "emptyDir" && o.path === "boot");
    expect(kernelMove).toBeLessThan(bootEmptied);
  });
  it("moves System.map and config with their kernel and warns about what else /boot held", () => {
    const scan = debianScan();
    scan.boot.push(file("boot/System.map-6.1.0-50-amd64"), file("boot/config-6.1.0-40-amd64"), dir("boot/grub"), link("boot/vmlinuz", "vmlinuz-6.1.0-50-amd64"));
    const plan = planTop(scan);
    expect(plan.ops).toContainEqual({ op: "move", from: "boot/System.map-6.1.0-50-amd64", to: "usr/lib/modules/6.1.0-50-amd64/System.map" });
    // A leftover of another kernel and grub's directory go with /boot; the kernel link is made again by a kernel install.
    expect(plan.ops.filter((o) => o.op === "move" && o.from.startsWith("boot/"))).toHaveLength(4);
    expect(plan.warnings).toEqual(["dropped from /boot, which is committed empty: config-6.1.0-40-amd64, grub"]);
    const noInitrd = planTop({ ...debianScan(), boot: [file("boot/vmlinuz-6.1.0-50-amd64")] });
    expect(noInitrd.warnings).toEqual(["kernel 6.1.0-50-amd64 has no initramfs (/boot/initrd.img-6.1.0-50-amd64)"]);
  });
  it("refuses what is not a root filesystem", () => {
    expect(() => planTop({ ...debianScan(), top: [dir("etc")] })).toThrow(ReshapeError);
    expect(() => planTop({ ...debianScan(), usrEtc: true })).toThrow(/both \/etc and \/usr\/etc/);
  });
  it("turns /var into tmpfiles.d lines and factory files", () => {
    const plan = planVar(
      [
        dir("var"),
        dir("var/lib"),
        link("var/lib/dpkg", "../../usr/share/dpkg/database"),
        dir("var/lib/apt"),
        dir("var/lib/apt/lists"),
        file("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease"),
        file("var/lib/apt/extended_states"),
        dir("var/cache/apt/archives/partial", 0o700, 42, 0),
        file("var/cache/apt/pkgcache.bin"),
        dir("var/log"),
        file("var/log/dpkg.log"),
        dir("var/tmp", 0o1777),
        dir("var/tmp/junk"),
        file("var/tmp/junk/x"),
        link("var/run", "/run"),
        dir("var/home/user with space", 0o750, 1000, 1000),
      ],
      new Set(["/var/log", "/var/run"]),
    );
    const text = plan.tmpfiles;
    expect(text).toContain("L /var/lib/dpkg - - - - ../../usr/share/dpkg/database");
    expect(text).toContain("C /var/lib/apt/extended_states - - - - /usr/share/factory/var/lib/apt/extended_states");
    expect(text).toContain("d /var/cache/apt/archives/partial 0700 42 0 -");
    expect(text).toContain("d /var/home/user\\x20with\\x20space 0750 1000 1000 -");
    expect(text).toContain("d /var/tmp 1777 0 0 -");
    expect(text).toContain("#apt-ostree: d /var/log 0755 0 0 -");
    expect(text).toContain("#apt-ostree: L /var/run - - - - /run");
    expect(text).not.toMatch(/InRelease|pkgcache|dpkg\.log|junk/);
    expect(plan.ops).toContainEqual({ op: "move", from: "var/lib/apt/extended_states", to: "usr/share/factory/var/lib/apt/extended_states" });
    expect(plan.ops).toContainEqual({ op: "emptyDir", path: "var", mode: 0o755 });
    // The factory's directories are made with the mode and owner of theirs in /var, before the file moves in.
    const home = planVar([dir("var"), dir("var/home"), dir("var/home/alice", 0o700, 1000, 1001), file("var/home/alice/notes")], new Set());
    expect(home.ops.slice(0, 4)).toEqual([
      { op: "mkdir", path: "usr/share/factory/var", mode: 0o755, uid: 0, gid: 0 },
      { op: "mkdir", path: "usr/share/factory/var/home", mode: 0o755, uid: 0, gid: 0 },
      { op: "mkdir", path: "usr/share/factory/var/home/alice", mode: 0o700, uid: 1000, gid: 1001 },
      { op: "move", from: "var/home/alice/notes", to: "usr/share/factory/var/home/alice/notes" },
    ]);
    expect(home.tmpfiles).toContain("d /var/home/alice 0700 1000 1001 -");
    // Less write and special bits for others: a sticky, world-writable /var/tmp is not one under /usr.
    const tmp = planVar([dir("var"), dir("var/mail", 0o2775, 0, 8), file("var/mail/x"), dir("var/spool", 0o1777), file("var/spool/y")], new Set());
    expect(tmp.ops.filter((o) => o.op === "mkdir" && (o as { path: string }).path.startsWith("usr/share/factory")).map((o) => [(o as { path: string }).path, (o as { mode: number }).mode])).toEqual([
      ["usr/share/factory/var", 0o755],
      ["usr/share/factory/var/mail", 0o755],
      ["usr/share/factory/var/spool", 0o755],
    ]);
    expect(tmp.tmpfiles).toContain("d /var/mail 2775 0 8 -");
    expect(plan.ops).toContainEqual({ op: "symlink", path: "var/lib/dpkg", target: "../../usr/share/dpkg/database" });
    const undo = planUndo({ lines: parseTmpfiles(text, "#apt-ostree:"), kernels: [{ kver: "6.1", files: ["vmlinuz", "initramfs.img", "config"] }], usrEtc: true, etc: false, dpkgDatabase: true });
    expect(undo[0]).toEqual({ op: "move", from: "usr/etc", to: "etc" });
    expect(undo).toContainEqual({ op: "move", from: "usr/share/factory/var/lib/apt/extended_states", to: "var/lib/apt/extended_states" });
    expect(undo).toContainEqual({ op: "mkdir", path: "var/cache/apt/archives/partial", mode: 0o700, uid: 42, gid: 0 });
    expect(undo).toContainEqual({ op: "symlink", path: "var/run", target: "/run" });
    expect(undo).toContainEqual({ op: "move", from: "usr/share/dpkg/database", to: "var/lib/dpkg" });
    expect(undo).toContainEqual({ op: "move", from: "usr/lib/modules/6.1/vmlinuz", to: "boot/vmlinuz-6.1" });
    expect(undo).toContainEqual({ op: "move", from: "usr/lib/modules/6.1/initramfs.img", to: "boot/initrd.img-6.1" });
    expect(undo).toContainEqual({ op: "move", from: "usr/lib/modules/6.1/config", to: "boot/config-6.1" });
    expect(undo.some((o) => o.op === "move" && o.to === "boot/System.map-6.1")).toBe(false);
  });
});

describe("metadata", () => {
  it("marks bootable only with a kernel and sorts packages by name", () => {
    const m = buildMetadata({
      release: "bookworm",
      arch: "amd64",
      variant: "minbase",
      kernels: ["6.1.0-50-amd64"],
      packages: ["initramfs-tools=1", "initramfs-tools-core=1", "apt=2"],
      time: 1700000000,
      extra: { "ostree.bootable": false, "org.example": "x" },
    });
    expect(m).toMatchObject({
      version: "bookworm.20231114",
      "ostree.bootable": true,
      "ostree.linux": "6.1.0-50-amd64",
      "apt-ostree.release": "bookworm",
      "apt-ostree.architecture": "amd64",
      "apt-ostree.variant": "minbase",
      "org.example": "x",
    });
    expect(m["apt-ostree.packages"]).toEqual(["apt=2", "initramfs-tools=1", "initramfs-tools-core=1"]);
    const plain = buildMetadata({ kernels: [], packages: [], time: 0, version: "1.0", extra: { "ostree.bootable": true } });
    expect(plain["ostree.bootable"]).toBeUndefined();
    expect(plain.version).toBe("1.0");
    expect(defaultVersion("noble", 0)).toBe("noble.19700101");
    expect(parseMetadataFlag("a=true")).toEqual(["a", true]);
    expect(parseMetadataFlag("a=b=c")).toEqual(["a", "b=c"]);
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: "42" })).toBe(42);
    expect(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: "yesterday" })).toThrow();
    expect(gvariantText(["a'b", "c"])).toBe("['a\\'b', 'c']");
    expect(gvariantText([])).toBe("@as []");
    expect(gvariantText(true)).toBe("true");
  });
  it("names the newest kernel in ostree.linux, comparing versions as dpkg does", () => {
    const linux = (kernels: string[]) => buildMetadata({ kernels, packages: [], time: 0 })["ostree.linux"];
    expect(linux(["6.1.0-10-amd64", "6.1.0-9-amd64"])).toBe("6.1.0-10-amd64");
    expect(linux(["6.1.0-9-amd64", "6.1.0-10-amd64"])).toBe("6.1.0-10-amd64");
    expect(linux(["6.12.1-amd64", "6.2.16-amd64", "5.10.0-28-amd64"])).toBe("6.12.1-amd64");
    const sorted = ["1.0~rc1", "1.0", "1.0a", "1.0+b1", "1.00.1", "1.1", "1.9", "1.10", "6.1.0-9-amd64", "6.1.0-10-amd64", "6.1.0-10-rt-amd64"];
    expect([...sorted].reverse().sort(compareVersions)).toEqual(sorted);
    expect(compareVersions("1.01", "1.1")).toBe(0);
  });
  it("reads dpkg-query output", () => {
    const pkgs = parseDpkgQuery("ii \tlibc6\tamd64\t2.36\nrc \told\tamd64\t1\nii \tlibc6\ti386\t2.36\nii \ttzdata\tall\t2024a\n");
    expect(packageList(pkgs, "amd64")).toEqual(["libc6=2.36", "libc6:i386=2.36", "tzdata=2024a"]);
  });
});

describe("reshape on a tree", () => {
  const tmp = tempDir("apt-ostree-reshape-");
  afterAll(tmp.cleanup);
  const put = (root: string, path: string, content = "x", mode = 0o644) => {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content, { mode });
  };

  it("reshapes, undoes and reshapes again to the same shape", () => {
    const root = join(tmp.path, "root");
    for (const d of ["usr/bin", "usr/lib/modules/6.1-test", "etc/apt", "var/lib/dpkg/info", "var/cache/debconf", "var/lib/apt/lists/partial", "var/log/apt", "boot", "home/user", "root", "opt", "srv", "mnt", "media/cdrom", "dev", "proc", "sys", "run/lock", "tmp"]) {
      mkdirSync(join(root, d), { recursive: true });
    }
    put(root, "etc/os-release", 'VERSION_CODENAME=bookworm\n');
    put(root, "var/lib/dpkg/status", "Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21\n\n");
    put(root, "var/cache/debconf/config.dat", "debconf");
    put(root, "var/lib/apt/lists/junk_Packages", "big");
    put(root, "var/log/apt/history.log", "log");
    put(root, "boot/vmlinuz-6.1-test", "kernel");
    put(root, "boot/initrd.img-6.1-test", "initrd");
    put(root, "boot/System.map-6.1-test", "map");
    put(root, "home/user/.profile", "profile");
    put(root, "home/alice/notes", "private");
    chmodSync(join(root, "home/alice"), 0o700);
    chownSync(join(root, "home/alice"), 1000, 1001);
    put(root, "root/.bashrc", "bashrc");
    chmodSync(join(root, "root"), 0o700);
    put(root, "tmp/junk", "junk");
    symlinkSync("boot/vmlinuz-6.1-test", join(root, "vmlinuz"));
    symlinkSync("/run", join(root, "var/run"));
    spawnSync("mkfifo", [join(root, "dev/fifo")]);

    const result = reshapeTree(root);
    expect(result.kernels).toEqual(["6.1-test"]);
    expect(existsSync(join(root, "etc"))).toBe(false);
    expect(readFileSync(join(root, "usr/etc/os-release"), "utf8")).toContain("bookworm");
    expect(readdirSync(join(root, "boot"))).toEqual([]);
    expect(readFileSync(join(root, "usr/lib/modules/6.1-test/vmlinuz"), "utf8")).toBe("kernel");
    expect(readFileSync(join(root, "usr/lib/modules/6.1-test/initramfs.img"), "utf8")).toBe("initrd");
    expect(readFileSync(join(root, "usr/lib/modules/6.1-test/System.map"), "utf8")).toBe("map");
    expect(result.warnings).toEqual([]);
    expect(readdirSync(join(root, "var"))).toEqual(["lib"]);
    expect(readdirSync(join(root, "var/lib"))).toEqual(["dpkg"]);
    expect(readlinkSync(join(root, "var/lib/dpkg"))).toBe("../../usr/share/dpkg/database");
    expect(readFileSync(join(root, "var/lib/dpkg/status"), "utf8")).toContain("Package: dpkg");
    expect(readlinkSync(join(root, "home"))).toBe("var/home");
    expect(readlinkSync(join(root, "root"))).toBe("var/roothome");
    expect(readlinkSync(join(root, "media"))).toBe("run/media");
    expect(readlinkSync(join(root, "ostree"))).toBe("sysroot/ostree");
    expect(existsSync(join(root, "vmlinuz"))).toBe(false);
    for (const d of ["dev", "proc", "sys", "run", "tmp", "sysroot"]) expect(readdirSync(join(root, d))).toEqual([]);
    expect(lstatSync(join(root, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(readFileSync(join(root, "usr/share/factory/var/roothome/.bashrc"), "utf8")).toBe("bashrc");
    // Private directories stay private in the factory (under /usr, which everyone can read) and in
    // the lines that make them again.
    const owner = (path: string) => {
      const st = lstatSync(join(root, path));
      return `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    };
    expect(owner("usr/share/factory/var/roothome")).toBe("700 0:0");
    expect(owner("usr/share/factory/var/home/alice")).toBe("700 1000:1001");
    expect(owner("usr/share/factory/var/home")).toBe("755 0:0");
    const conf = readFileSync(join(root, "usr/lib/tmpfiles.d/apt-ostree-var.conf"), "utf8");
    expect(conf).toContain("d /var/roothome 0700 0 0 -");
    expect(conf).toContain("d /var/home/alice 0700 1000 1001 -");
    expect(conf).toContain("C /var/home/user/.profile - - - - /usr/share/factory/var/home/user/.profile");
    expect(conf).toContain("L /var/run - - - - /run");
    expect(conf).not.toContain("junk_Packages");
    expect(conf).not.toContain("history.log");

    unreshapeTree(root);
    expect(readFileSync(join(root, "etc/os-release"), "utf8")).toContain("bookworm");
    expect(lstatSync(join(root, "var/lib/dpkg")).isDirectory()).toBe(true);
    expect(existsSync(join(root, "usr/share/dpkg/database"))).toBe(false);
    expect(readFileSync(join(root, "var/cache/debconf/config.dat"), "utf8")).toBe("debconf");
    expect(readFileSync(join(root, "root/.bashrc"), "utf8")).toBe("bashrc");
    expect(owner("var/roothome")).toBe("700 0:0");
    expect(owner("var/home/alice")).toBe("700 1000:1001");
    expect(readFileSync(join(root, "boot/vmlinuz-6.1-test"), "utf8")).toBe("kernel");
    expect(readdirSync(join(root, "boot")).sort()).toEqual(["System.map-6.1-test", "initrd.img-6.1-test", "vmlinuz-6.1-test"]);
    expect(existsSync(join(root, "var/lib/apt/lists/partial"))).toBe(true);
    expect(existsSync(join(root, "usr/share/factory/var"))).toBe(false);

    reshapeTree(root);
    expect(readFileSync(join(root, "usr/lib/tmpfiles.d/apt-ostree-var.conf"), "utf8")).toBe(conf);
    expect(readdirSync(join(root, "boot"))).toEqual([]);

    // Reshaping a tree that is already in shape (a checkout of a commit) changes nothing.
    const listing = (dir: string): string[] =>
      readdirSync(dir, { recursive: true, encoding: "utf8" }).sort().map((p) => `${p}:${lstatSync(join(dir, p)).mode.toString(8)}`);
    const first = listing(root);
    expect(reshapeTree(root).kernels).toEqual(["6.1-test"]);
    expect(listing(root)).toEqual(first);
    expect(readFileSync(join(root, "usr/lib/tmpfiles.d/apt-ostree-var.conf"), "utf8")).toBe(conf);
  });
});
