// `apt-ostree oci build` end to end: the compiled binary, real ostree repositories, and the real
// consumers (skopeo, umoci, oci-image-tool) as judges.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { binaryCommand, runCli, tempDir } from "./helpers/cli.ts";
import { parseRootChecksums } from "../src/ostree.ts";
import { makeDpkgTree, makeHardCaseTree, treeManifest, type ManifestEntry } from "./helpers/tree.ts";
import { ociImageToolValidate, sh, sha256sum, skopeoConfig, skopeoInspect, umociUnpack } from "./helpers/validate.ts";

const tmp = tempDir("build-test-");
const tree = join(tmp.path, "tree");
const repo = join(tmp.path, "repo");
/** The hard cases OSTree can hold: no devices, fifos or sockets. */
const ostreeTree = join(tmp.path, "ostree-tree");
afterAll(() => tmp.cleanup());

beforeAll(() => {
  makeHardCaseTree(tree);
  execFileSync("cp", ["-a", tree, ostreeTree]);
  for (const special of ["dev/null", "dev/loop0", "fifo", "socket"]) execFileSync("rm", [join(ostreeTree, special)]);
  // OSTree also refuses names that are not UTF-8.
  execFileSync("sh", ["-c", `rm '${ostreeTree}'/non-utf8-*`]);
  execFileSync("ostree", ["init", `--repo=${repo}`, "--mode=bare"]);
});

function byPath(entries: ManifestEntry[]): Map<string, ManifestEntry> {
  return new Map(entries.map((e) => [e.path, e]));
}

async function build(args: string[], env: Record<string, string> = {}) {
  const r = await runCli(["oci", "build", ...args, "--json"], { env });
  if (r.code !== 0) throw new Error(`build failed (${r.code}): ${r.stderr}`);
  return { ...JSON.parse(r.stdout), stderr: r.stderr };
}

/** Source and unpacked trees must agree on everything a layer carries. */
function expectSameTree(source: string, unpacked: string, options: { usrEtcAsEtc?: boolean; mtimeClamp?: number; ignore?: RegExp } = {}) {
  const hex = (s: string) => Buffer.from(s).toString("hex");
  const src = treeManifest(source).filter((e) => e.type !== "socket");
  const out = byPath(treeManifest(unpacked));
  expect(out.size).toBe(src.length);
  for (const e of src) {
    let path = e.path;
    if (options.usrEtcAsEtc && e.name.startsWith("usr/etc")) path = hex(e.name.slice(4));
    const got = out.get(path);
    expect(got, `missing ${e.name}`).toBeDefined();
    const want: any = { ...e, path };
    if (want.hardlink_group && options.usrEtcAsEtc) {
      const n = Buffer.from(want.hardlink_group, "hex").toString();
      if (n.startsWith("usr/etc")) want.hardlink_group = hex(n.slice(4));
    }
    want.name = got!.name;
    if (e.type !== "file") delete want.mtime;
    if (want.mtime !== undefined && options.mtimeClamp !== undefined) want.mtime = Math.min(want.mtime, options.mtimeClamp);
    const gotCmp: any = { ...got };
    if (e.type !== "file") delete gotCmp.mtime;
    expect(gotCmp, e.name).toEqual(want);
  }
}

describe("oci build --rootfs", () => {
  it("writes a layout that skopeo, oci-image-tool and umoci accept, and round-trips every hard case", async () => {
    const out = join(tmp.path, "hard.oci");
    const result = await build(["--rootfs", tree, "--output", `oci:${out}:v1`, "--label", "a=b", "--env", "FOO=bar", "--expose", "8080", "--volume", "/data", "--cmd", '["/bin/sh","-c","echo hi"]', "--user", "1000:1000", "--workdir", "/srv"]);
    expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.warnings.join("\n")).toMatch(/socket/);
    // Blob digests are those of the bytes on disk.
    const layer = result.layers[0];
    expect(sha256sum(join(out, "blobs/sha256", layer.digest.slice(7)))).toBe(layer.digest);
    expect(sha256sum(join(out, "blobs/sha256", result.digest.slice(7)))).toBe(result.digest);
    // diffid = sha256 of the uncompressed tar
    const diff = "sha256:" + execFileSync("sh", ["-c", `gzip -dc '${join(out, "blobs/sha256", layer.digest.slice(7))}' | sha256sum`]).toString().split(" ")[0];
    expect(diff).toBe(layer.diffId);
    const layout = JSON.parse(readFileSync(join(out, "oci-layout"), "utf8"));
    expect(layout.imageLayoutVersion).toBe("1.0.0");
    const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8"));
    expect(index.manifests[0].annotations["org.opencontainers.image.ref.name"]).toBe("v1");

    const inspect = skopeoInspect(`oci:${out}:v1`);
    expect(inspect.Digest).toBe(result.digest);
    expect(inspect.Labels).toEqual({ a: "b" });
    const config = skopeoConfig(`oci:${out}:v1`);
    // The usual PATH stays unless --env sets one.
    expect(config.config.Env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FOO=bar"]);
    expect(config.config.ExposedPorts).toEqual({ "8080/tcp": {} });
    expect(config.config.Volumes).toEqual({ "/data": {} });
    expect(config.config.Cmd).toEqual(["/bin/sh", "-c", "echo hi"]);
    expect(config.config.User).toBe("1000:1000");
    expect(config.config.WorkingDir).toBe("/srv");
    expect(config.rootfs.diff_ids).toEqual([layer.diffId]);
    expect(config.created).toBe("1970-01-01T00:00:00Z");
    ociImageToolValidate(out, "v1");

    const bundle = join(tmp.path, "hard.bundle");
    umociUnpack(out, "v1", bundle);
    expectSameTree(tree, join(bundle, "rootfs"));
  });

  it("splits a directory with a dpkg database into package layers, leaving out packages with no files", async () => {
    const root = join(tmp.path, "dpkg-tree");
    makeDpkgTree(root);
    const out = join(tmp.path, "dpkg-split");
    const result = await build(["--rootfs", root, "--output", `oci:${out}:t`, "--max-layers", "3"]);
    // big gets a layer; ghost's files are not there, so it gets none; the rest is last.
    expect(result.layers.map((l: { packages?: string[] }) => l.packages)).toEqual([["big"], undefined]);
    expect(result.warnings).toEqual([]);
    const list = (digest: string) => execFileSync("tar", ["-tzf", join(out, "blobs/sha256", digest.slice(7))]).toString().trim().split("\n");
    // The unowned hardlink of big's LICENSE joins big's layer: one copy of the content, one link.
    expect(list(result.layers[0].digest)).toEqual([
      "usr/",
      "usr/share/",
      "usr/share/big/",
      "usr/share/big/LICENSE",
      "usr/share/big/data",
      "usr/share/doc/",
      "usr/share/doc/unowned/",
      "usr/share/doc/unowned/LICENSE",
    ]);
    const verbose = execFileSync("tar", ["-tvzf", join(out, "blobs/sha256", result.layers[0].digest.slice(7))]).toString();
    expect(verbose).toMatch(/^h.* usr\/share\/doc\/unowned\/LICENSE link to usr\/share\/big\/LICENSE$/m);
    expect(list(result.layers[1].digest)).toContain("etc/hostname");
    expect(list(result.layers[1].digest)).not.toContain("usr/share/big/data");
    expect(list(result.layers[1].digest)).not.toContain("usr/share/doc/unowned/LICENSE");
    // inspect reads a local layout as it reads a registry.
    const shown = await runCli(["oci", "inspect", `oci:${out}:t`]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`Digest:     ${result.digest}`);
    expect(shown.stdout).toMatch(/^ {4}ostree\.components=big$/m);
    // A plain path (with :TAG) is a local image to inspect and copy, not a Docker Hub name.
    const plain = await runCli(["oci", "inspect", `${out}:t`]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain(`Digest:     ${result.digest}`);
    const archive = join(tmp.path, "dpkg-split.tar");
    const copied = await runCli(["oci", "copy", `${out}:t`, `oci-archive:${archive}`]);
    expect(copied.code, copied.stderr).toBe(0);
    const fromArchive = await runCli(["oci", "inspect", archive, "--json"]);
    expect(fromArchive.code, fromArchive.stderr).toBe(0);
    expect(JSON.parse(fromArchive.stdout).digest).toBe(result.digest);
    // A plain PATH:TAG destination of an existing layout adds to it, as oci:PATH:TAG (no directory "PATH:TAG").
    const added = await runCli(["oci", "copy", `${out}:t`, `${out}:t2`]);
    expect(added.code, added.stderr).toBe(0);
    expect(existsSync(`${out}:t2`)).toBe(false);
    const refNames = JSON.parse(readFileSync(join(out, "index.json"), "utf8")).manifests.map((m: any) => m.annotations["org.opencontainers.image.ref.name"]);
    expect(refNames.sort()).toEqual(["t", "t2"]);
    // A directory that is no image does not shadow a registry's name: debian:bookworm beside a debian/.
    mkdirSync(join(tmp.path, "debian"), { recursive: true });
    const hub = await runCli(["oci", "inspect", "debian:bookworm"], { cwd: tmp.path, env: { HOME: tmp.path } });
    if (hub.code === 0) expect(hub.stdout).toContain("docker.io/library/debian");
    else expect(hub.stderr).toMatch(/docker\.io/);
    // A missing file name is not sent to Docker Hub as library/img.tar: one line, nothing written.
    const missing = await runCli(["oci", "inspect", "img.tar"], { cwd: tmp.path, env: { HOME: tmp.path } });
    expect(missing.code).toBe(3);
    expect(missing.stderr.trim()).toBe("apt-ostree: img.tar: no such file (Docker Hub's image of that name is docker://img.tar)");
    const toFile = await runCli(["oci", "copy", `${out}:t`, "copied.tar"], { cwd: tmp.path, env: { HOME: tmp.path } });
    expect(toFile.code).toBe(2);
    expect(toFile.stderr).toMatch(/write \.\/copied\.tar or oci-archive:copied\.tar for a file/);
    expect(existsSync(join(tmp.path, "copied.tar"))).toBe(false);
    const bundle = join(tmp.path, "dpkg-split.bundle");
    umociUnpack(out, "t", bundle);
    expectSameTree(root, join(bundle, "rootfs"));
  });

  it("leaves an output inside the tree out of the image: the layout being written, and the one --force replaces", async () => {
    const root = join(tmp.path, "dpkg-inside");
    makeDpkgTree(root);
    const names = (out: string, result: { layers: { digest: string }[] }) =>
      result.layers.flatMap((l) => execFileSync("tar", ["-tzf", join(out, "blobs/sha256", l.digest.slice(7))]).toString().trim().split("\n"));
    const out = join(root, "image.oci");
    const first = await build(["--rootfs", root, "--output", `oci:${out}:t`]);
    expect(first.layers).toHaveLength(2);
    const again = await build(["--rootfs", root, "--output", `oci:${out}:t`, "--force"]);
    for (const n of names(out, again)) expect(n).not.toMatch(/image\.oci/);
    expect(again.digest).toBe(first.digest);
  });

  it("leaves out names that image tools read as whiteouts (.wh.*), with a warning, from a directory and a commit", async () => {
    const wh = join(tmp.path, "whiteouts");
    mkdirSync(join(wh, "d"), { recursive: true });
    mkdirSync(join(wh, ".wh.dir"));
    writeFileSync(join(wh, ".wh.secret"), "x");
    writeFileSync(join(wh, "d", ".wh..wh..opq"), "y");
    writeFileSync(join(wh, "d", "keep"), "z");
    writeFileSync(join(wh, ".wh.dir", "inner"), "v");
    const warnings = [".wh.dir", ".wh.secret", "d/.wh..wh..opq"].map((name) => `skipped ${name}: image tools read a name starting with .wh. as a whiteout`);
    execFileSync("ostree", ["commit", `--repo=${repo}`, "-b", "test/whiteouts", wh]);
    for (const [name, source] of [["wh-rootfs", ["--rootfs", wh]], ["wh-commit", ["--source", "test/whiteouts", "--repo", repo]]] as const) {
      const out = join(tmp.path, name);
      const result = await build([...source, "--output", out]);
      expect(result.warnings).toEqual(warnings);
      expect(result.stderr).toBe(warnings.map((w) => `apt-ostree: warning: ${w}\n`).join(""));
      const bundle = join(tmp.path, `${name}.bundle`);
      umociUnpack(out, "latest", bundle);
      expect(readdirSync(join(bundle, "rootfs"), { recursive: true }).sort()).toEqual(["d", "d/keep"]);
    }
  });

  it.skipIf(process.getuid?.() !== 0)("leaves out what the kernel mounts into a chroot in use (proc, /dev, devpts), keeping the directories; a tmpfs mounted in it is part of it", async () => {
    const chroot = join(tmp.path, "chroot-in-use");
    for (const d of ["proc", "dev/pts", "var/cache"]) mkdirSync(join(chroot, d), { recursive: true });
    writeFileSync(join(chroot, "hello"), "hi\n");
    const mounts = [join(chroot, "proc"), join(chroot, "dev"), join(chroot, "var/cache")];
    execFileSync("mount", ["-t", "proc", "proc", mounts[0]!]);
    execFileSync("mount", ["-t", "tmpfs", "tmpfs", mounts[1]!]);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mounts[2]!]);
    try {
      mkdirSync(join(chroot, "dev/pts"));
      writeFileSync(join(chroot, "dev/null-ish"), "");
      writeFileSync(join(chroot, "var/cache/kept"), "cached\n");
      const out = join(tmp.path, "chroot-in-use.oci");
      const result = await build(["--rootfs", chroot, "--output", out]);
      expect(result.warnings).toEqual([
        "left out the contents of dev: a mount of the host's devices, not part of the tree",
        "left out the contents of proc: a mount of the host's proc, not part of the tree",
      ]);
      const bundle = join(tmp.path, "chroot-in-use.bundle");
      umociUnpack(out, "latest", bundle);
      expect(readdirSync(join(bundle, "rootfs"), { recursive: true }).sort()).toEqual(["dev", "hello", "proc", "var", "var/cache", "var/cache/kept"]);
    } finally {
      for (const m of mounts.reverse()) execFileSync("umount", [m]);
    }
  });

  it("writes one layer, with a warning, when --max-layers meets a tree without a dpkg database", async () => {
    const result = await build(["--rootfs", tree, "--output", join(tmp.path, "no-dpkg"), "--max-layers", "4"]);
    expect(result.layers).toHaveLength(1);
    expect(result.warnings).toContain("no dpkg database in the tree: writing one layer");
    expect(result.stderr).toMatch(/no dpkg database in the tree: writing one layer/);
  });

  it("gives identical digests for the same input, whatever the thread count, a second apart", async () => {
    const a = await build(["--rootfs", tree, "--output", join(tmp.path, "det-a"), "--threads", "1"]);
    await new Promise((r) => setTimeout(r, 1100));
    const b = await build(["--rootfs", tree, "--output", join(tmp.path, "det-b"), "--threads", "2"]);
    expect(b.digest).toBe(a.digest);
    expect(b.layers[0].digest).toBe(a.layers[0].digest);
    const z1 = await build(["--rootfs", tree, "--output", join(tmp.path, "det-z1"), "--compression", "zstd", "--threads", "1"]);
    const z2 = await build(["--rootfs", tree, "--output", join(tmp.path, "det-z2"), "--compression", "zstd", "--threads", "2"]);
    expect(z2.layers[0].digest).toBe(z1.layers[0].digest);
  });

  it("clamps mtimes to SOURCE_DATE_EPOCH and uses it as the creation time", async () => {
    const out = join(tmp.path, "sde");
    const result = await build(["--rootfs", tree, "--output", `oci:${out}:t`], { SOURCE_DATE_EPOCH: "1100000000" });
    expect(skopeoConfig(`oci:${out}:t`).created).toBe("2004-11-09T11:33:20Z");
    const bundle = join(tmp.path, "sde.bundle");
    umociUnpack(out, "t", bundle);
    expectSameTree(tree, join(bundle, "rootfs"), { mtimeClamp: 1100000000 });
    expect(result.layers[0].mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
  });

  it("keeps values that look like numbers as typed, and refuses a value option given twice", async () => {
    const out = join(tmp.path, "typed");
    const small = join(tmp.path, "typed-tree");
    mkdirSync(join(small, "etc"), { recursive: true });
    writeFileSync(join(small, "etc", "x"), "x");
    await build(["--rootfs", small, "--output", out, "--tag", "2.10", "--user", "1000", "--workdir", "/007", "--cmd", `/bin/sh -c "echo 1"`, "--env", "A=1", "--label", "v=1.0", "--created", "2024-01-02T03:04:05"], { TZ: "America/New_York" });
    const config = skopeoConfig(`oci:${out}:2.10`);
    expect(config.config).toEqual({
      User: "1000",
      WorkingDir: "/007",
      Cmd: ["/bin/sh", "-c", "echo 1"],
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1"],
      Labels: { v: "1.0" },
    });
    expect(config.created).toBe("2024-01-02T03:04:05Z");
    const twice = await runCli(["oci", "build", "--rootfs", small, "--output", join(tmp.path, "t1"), "--output", join(tmp.path, "t2")]);
    expect([twice.code, twice.stderr]).toEqual([2, "apt-ostree: --output given more than once\n"]);
    // An empty --tag wrote an untagged image.
    const noTag = await runCli(["oci", "build", "--rootfs", small, "--output", join(tmp.path, "t1"), "--tag", ""]);
    expect([noTag.code, noTag.stderr]).toEqual([2, "apt-ostree: --tag must not be empty\n"]);
    // A contradiction within the config file is the file's, not a flag's.
    const conflicting = join(tmp.path, "conflicting.json");
    writeFileSync(conflicting, JSON.stringify({ rootfs: small, output: "oci:t3:b", tag: "a" }));
    const fromFile = await runCli(["oci", "build", "--config", conflicting]);
    expect([fromFile.code, fromFile.stderr]).toEqual([2, `apt-ostree: the config file's tag: a contradicts the tag in 'oci:${join(tmp.path, "t3")}:b'\n`]);
    expect(existsSync(join(tmp.path, "t1")) || existsSync(join(tmp.path, "t2"))).toBe(false);
  });

  it("leaves nothing in $TMPDIR: the native core is loaded from a private copy, removed at once", async () => {
    const tmpdir = join(tmp.path, "own-tmpdir");
    mkdirSync(tmpdir);
    await build(["--rootfs", join(tmp.path, "typed-tree"), "--output", join(tmp.path, "tmpdir-out")], { TMPDIR: tmpdir });
    expect(readdirSync(tmpdir)).toEqual([]);
    // A $TMPDIR that is not there, or (as root) mounted noexec: one line saying what to change.
    const missing = await runCli(["oci", "build", "--rootfs", join(tmp.path, "typed-tree"), "--output", join(tmp.path, "tmpdir-out2")], { env: { TMPDIR: join(tmp.path, "no-such-tmp") } });
    expect([missing.code, missing.stderr]).toEqual([1, `apt-ostree: cannot load the native core: $TMPDIR ${join(tmp.path, "no-such-tmp")} does not exist\n`]);
    if (process.getuid?.() === 0) {
      const noexec = join(tmp.path, "noexec-tmp");
      mkdirSync(noexec);
      execFileSync("mount", ["-t", "tmpfs", "-o", "noexec,size=16m", "tmpfs", noexec]);
      try {
        const r = await runCli(["oci", "build", "--rootfs", join(tmp.path, "typed-tree"), "--output", join(tmp.path, "tmpdir-out2")], { env: { TMPDIR: noexec } });
        expect(r.code).toBe(1);
        expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`must allow executing files: set BUN_TMPDIR to a directory that does\\)$`))]);
        expect(readdirSync(noexec)).toEqual([]);
      } finally {
        execFileSync("umount", [noexec]);
      }
    }
    expect(existsSync(join(tmp.path, "tmpdir-out2"))).toBe(false);
  });

  it("--help of a group or command says which one it is and what it does", async () => {
    for (const [args, head] of [
      [["oci", "--help"], "apt-ostree oci: build OCI images"],
      [["oci", "build", "--help"], "apt-ostree oci build: Build an OCI image"],
      [["oci", "push", "--help"], "apt-ostree oci push: Push a local image"],
      [["compose", "base", "--help"], "apt-ostree compose base: "],
      [["login", "--help"], "apt-ostree login: "],
    ] as const) {
      const r = await runCli([...args]);
      expect(r.code, args.join(" ")).toBe(0);
      expect(r.stdout.split("\n")[0]).toMatch(new RegExp(`^${head.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}.`));
      expect(r.stdout).not.toMatch(/ $/m);
    }
  });

  it("reads help, typos and flag forms as the tools its users know do", async () => {
    const out = join(tmp.path, "tmpdir-out");
    for (const [args, head] of [
      [["help", "oci"], "apt-ostree oci: "],
      [["help", "oci", "push"], "apt-ostree oci push: "],
      [["oci", "help", "build"], "apt-ostree oci build: "],
      [["help", "login"], "apt-ostree login: "],
    ] as const) {
      const r = await runCli([...args]);
      expect([r.code, r.stdout.split("\n")[0]!.startsWith(head)], args.join(" ")).toEqual([0, true]);
    }
    expect((await runCli(["--help"])).stdout).toMatch(/^ {2}-v, --version /m);
    for (const [args, message] of [
      [["--versoin"], "unknown option --versoin (did you mean --version?); see 'apt-ostree --help'"],
      [["oci", "biuld"], "unknown command 'oci biuld' (did you mean build?); see 'apt-ostree oci --help'"],
      [["lgoin"], "unknown command 'lgoin' (did you mean login?); see 'apt-ostree --help'"],
      [["oci", "build", "--rootfs", "/nonexistent", "--output", out, "--forse"], "unknown option --forse (did you mean --force?); see --help"],
      [["oci", "build", "--rootfs", "/nonexistent", "--output", out, "--force=yes"], "--force takes no value (given 'yes')"],
      [["oci", "build", "--rootfs", "/nonexistent", "--output", out, "--json", "yes"], "--json takes no value ('yes' is not an argument of this command); see --help"],
      // mri reads --no-X as X=false: an undeclared one would be taken and mean nothing.
      [["oci", "build", "--rootfs", "/nonexistent", "--output", out, "--no-force"], "unknown option --no-force; see --help"],
      [["oci", "inspect", out, "--raw", "--json"], "--json and --raw print different things: use one"],
    ] as const) {
      const r = await runCli([...args]);
      expect([r.code, r.stderr, r.stdout], args.join(" ")).toEqual([2, `apt-ostree: ${message}\n`, ""]);
    }
    // Bun's TOML errors have no position: the line comes from parsing ever longer beginnings.
    const toml = join(tmp.path, "bad.toml");
    writeFileSync(toml, 'rootfs = "/nonexistent"\nenv = [\n  "A=1",\n]\ntag = x\n');
    const badToml = await runCli(["oci", "build", "--config", toml]);
    expect([badToml.code, badToml.stderr]).toEqual([2, `apt-ostree: ${toml}: not valid TOML from line 5: Strings must be quoted: "x"\n`]);
    // Started with stdout closed (>&-): the result would vanish into the /dev/null put in its place.
    const [cmd, ...pre] = binaryCommand();
    const closed = spawnSync("python3", ["-c", "import os,subprocess,sys; p=subprocess.run(sys.argv[1:], preexec_fn=lambda: os.close(1), stderr=subprocess.PIPE); sys.stderr.write(str(p.returncode) + '|' + p.stderr.decode())", cmd, ...pre, "oci", "inspect", out], { encoding: "utf8" });
    expect(closed.stderr).toBe("1|apt-ostree: cannot write the output: stdout is closed\n");
    // A real /dev/null is a place to write to.
    expect(spawnSync(cmd, [...pre, "oci", "inspect", out], { stdio: ["ignore", openSync("/dev/null", "w"), "pipe"] }).status).toBe(0);
  });

  it("a closed output pipe ends the run quietly with 141 (as SIGPIPE); a full disk on stdout is one line, exit 1", async () => {
    const out = join(tmp.path, "tmpdir-out");
    const [cmd, ...pre] = binaryCommand();
    // stdout is a pipe whose reader is already gone: the first write fails with EPIPE, deterministically.
    const closed = spawnSync("python3", ["-c", "import os,subprocess,sys; r,w=os.pipe(); os.close(r); p=subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE); sys.stdout.write(str(p.returncode) + '|' + p.stderr.decode())", cmd, ...pre, "oci", "inspect", out], { encoding: "utf8" });
    expect(closed.stdout).toBe("141|");
    const full = spawnSync(cmd, [...pre, "oci", "inspect", out], { stdio: ["ignore", openSync("/dev/full", "w"), "pipe"], encoding: "utf8" });
    expect([full.status, full.stderr]).toEqual([1, "apt-ostree: cannot write the output: disk full\n"]);
  });

  it("writes zstd and uncompressed layers that umoci unpacks", async () => {
    for (const compression of ["zstd", "none"]) {
      const out = join(tmp.path, `c-${compression}`);
      const result = await build(["--rootfs", tree, "--output", `oci:${out}:t`, "--compression", compression]);
      expect(result.layers[0].mediaType).toBe(compression === "zstd" ? "application/vnd.oci.image.layer.v1.tar+zstd" : "application/vnd.oci.image.layer.v1.tar");
      if (compression === "none") expect(result.layers[0].digest).toBe(result.layers[0].diffId);
      skopeoInspect(`oci:${out}:t`);
      if (compression === "none") {
        // umoci 0.4.7 predates zstd layers; it reads plain tars.
        const bundle = join(tmp.path, `c-${compression}.bundle`);
        umociUnpack(out, "t", bundle);
        expectSameTree(tree, join(bundle, "rootfs"));
      } else {
        const listing = execFileSync("sh", ["-c", `zstd -dc '${join(out, "blobs/sha256", result.layers[0].digest.slice(7))}' | tar -tf - | wc -l`]).toString().trim();
        expect(Number(listing)).toBe(result.layers[0].entries);
      }
    }
    // zstd's fast levels ("--level -3" as two words): the same tar, a valid frame.
    const fast = join(tmp.path, "c-zstd-fast");
    const f = await build(["--rootfs", tree, "--output", `oci:${fast}:t`, "--compression", "zstd", "--level", "-3"]);
    const zstd = await build(["--rootfs", tree, "--output", `oci:${join(tmp.path, "c-zstd-1")}:t`, "--compression", "zstd"]);
    expect(f.layers[0].diffId).toBe(zstd.layers[0].diffId);
    expect(f.layers[0].digest).not.toBe(zstd.layers[0].digest);
    execFileSync("zstd", ["-tq", join(fast, "blobs/sha256", f.layers[0].digest.slice(7))]);
  });

  it("writes zstd layers of one frame per block that containers/image decodes whole (skopeo --dest-decompress)", async () => {
    // Several frames (4 MiB of tar each at the default level), some of it incompressible: a
    // reader that stopped after the first frame, or lost one, would give another digest.
    const src = join(tmp.path, "frames");
    mkdirSync(src);
    execFileSync("sh", ["-c", `head -c 4000000 /dev/urandom > '${src}/noise' && seq 1 1000000 > '${src}/text'`]);
    const out = join(tmp.path, "frames.oci");
    const r = await build(["--rootfs", src, "--output", `oci:${out}:t`, "--compression", "zstd"]);
    const layer = r.layers[0];
    expect(layer.uncompressedSize).toBeGreaterThan(8 * 1024 * 1024);
    const frames = execFileSync("zstd", ["-lv", join(out, "blobs/sha256", layer.digest.slice(7))], { stdio: ["ignore", "pipe", "ignore"] }).toString();
    expect(frames).toMatch(new RegExp(`# Zstandard Frames: ${Math.ceil(layer.uncompressedSize / (4 * 1024 * 1024))}\\b`));
    const dir = join(tmp.path, "frames.dir");
    execFileSync("skopeo", ["copy", "--quiet", "--dest-decompress", `oci:${out}:t`, `dir:${dir}`]);
    const tarPath = join(dir, layer.diffId.slice(7));
    expect(sha256sum(tarPath)).toBe(layer.diffId);
    expect(execFileSync("tar", ["-tf", tarPath]).toString().trim().split("\n")).toEqual(["noise", "text"]);

    // --zstd-frames one: the same tar in one frame (for readers that stop at the first frame),
    // the same bytes for any thread count.
    const one = await build(["--rootfs", src, "--output", `oci:${join(tmp.path, "one.oci")}:t`, "--compression", "zstd", "--zstd-frames", "one", "--threads", "1"]);
    const one2 = await build(["--rootfs", src, "--output", `oci:${join(tmp.path, "one2.oci")}:t`, "--compression", "zstd", "--zstd-frames", "one", "--threads", "2"]);
    expect(one.layers[0].diffId).toBe(layer.diffId);
    expect(one2.layers[0].digest).toBe(one.layers[0].digest);
    const oneFrames = execFileSync("zstd", ["-lv", join(tmp.path, "one.oci", "blobs/sha256", one.layers[0].digest.slice(7))], { stdio: ["ignore", "pipe", "ignore"] }).toString();
    expect(oneFrames).toMatch(/# Zstandard Frames: 1\b/);
  });

  it("writes an oci-archive and a docker-archive that skopeo reads", async () => {
    const archive = join(tmp.path, "img.oci.tar");
    const a = await build(["--rootfs", tree, "--output", `oci-archive:${archive}:v2`]);
    expect(skopeoInspect(`oci-archive:${archive}:v2`).Digest).toBe(a.digest);
    ociImageToolValidate(archive, "v2");
    const docker = join(tmp.path, "img.docker.tar");
    const d = await build(["--rootfs", tree, "--output", docker, "--format", "docker", "--tag", "demo:1.0"]);
    const inspect = skopeoInspect(`docker-archive:${docker}`);
    expect(inspect.RepoTags ?? []).toBeDefined();
    expect(inspect.Layers.length).toBe(1);
    expect(d.layers[0].digest).toBe(d.layers[0].diffId);
    const manifest = JSON.parse(execFileSync("tar", ["-xOf", docker, "manifest.json"]).toString());
    expect(manifest[0].RepoTags).toEqual(["demo:1.0"]);
    // skopeo copies it into a layout, and umoci unpacks that: the docker-archive holds the same tree.
    const copied = join(tmp.path, "from-docker");
    sh("skopeo", ["copy", `docker-archive:${docker}`, `oci:${copied}:t`]);
    const bundle = join(tmp.path, "docker.bundle");
    umociUnpack(copied, "t", bundle);
    expectSameTree(tree, join(bundle, "rootfs"));
  });

  it("lets neither of two runs writing one output at once replace the other's without --force: one exits 6", async () => {
    // Both pass the check before the work; the archive is written beside the output meanwhile.
    const src = join(tmp.path, "race-src");
    mkdirSync(src);
    execFileSync("sh", ["-c", `head -c ${96 << 20} /dev/urandom > '${join(src, "noise")}'`]);
    const dir = join(tmp.path, "race-out");
    mkdirSync(dir);
    for (const [output, path] of [[`oci-archive:${join(dir, "img.tar")}`, "img.tar"], [`docker-archive:${join(dir, "d.tar")}`, "d.tar"], [join(dir, "layout"), "layout"]]) {
      const runs = await Promise.all([0, 1].map(() => runCli(["oci", "build", "--rootfs", src, "--output", output, "--compression", "none"])));
      expect(runs.map((r) => r.code).sort(), runs.map((r) => r.stderr).join("")).toEqual([0, 6]);
      expect(runs.find((r) => r.code === 6)!.stderr).toMatch(new RegExp(`^apt-ostree: ${join(dir, path)} already exists \\(use --force to replace it[^\\n]*\\n$`));
    }
    expect(readdirSync(dir).sort()).toEqual(["d.tar", "img.tar", "layout"]);
  });

  it("adds images to an existing layout named oci:PATH:TAG, replacing the same tag and dropping its unused blobs", async () => {
    const layout = join(tmp.path, "multi");
    const blobs = () => readdirSync(join(layout, "blobs/sha256")).sort();
    const refs = () => JSON.parse(readFileSync(join(layout, "index.json"), "utf8")).manifests.map((m: any) => [m.annotations["org.opencontainers.image.ref.name"], m.digest]);
    const one = await build(["--rootfs", tree, "--output", `oci:${layout}:one`, "--label", "v=1"]);
    const two = await build(["--rootfs", tree, "--output", `oci:${layout}:two`, "--label", "v=2"]);
    expect(refs()).toEqual([["one", one.digest], ["two", two.digest]]);
    // Same layer: stored once; two configs, two manifests.
    expect(blobs().length).toBe(5);
    expect(skopeoConfig(`oci:${layout}:one`).config.Labels).toEqual({ v: "1" });
    expect(skopeoConfig(`oci:${layout}:two`).config.Labels).toEqual({ v: "2" });
    const oneBlobs = [one.digest, one.config.digest].map((d: string) => d.slice(7));
    // Replacing "one": its manifest and config go, the shared layer and "two" stay.
    const again = await build(["--rootfs", tree, "--output", `oci:${layout}:one`, "--label", "v=3"]);
    expect(refs()).toEqual([["two", two.digest], ["one", again.digest]]);
    expect(blobs().length).toBe(5);
    for (const hex of oneBlobs) expect(blobs()).not.toContain(hex);
    expect(readdirSync(layout).filter((n) => n.startsWith("."))).toEqual([]);
    expect(readdirSync(tmp.path).filter((n) => n.startsWith(".multi"))).toEqual([]);
    ociImageToolValidate(layout, "one");
    ociImageToolValidate(layout, "two");
    umociUnpack(layout, "one", join(tmp.path, "multi.bundle"));
    expect(skopeoInspect(`oci:${layout}:two`).Digest).toBe(two.digest);
    // A plain path is one image: an existing layout is refused, and --force replaces all of it.
    const plain = await runCli(["oci", "build", "--rootfs", tree, "--output", layout]);
    expect(plain.code).toBe(6);
    expect(plain.stderr).toMatch(/already exists \(use --force to replace it, or oci:PATH:TAG to add an image to the layout\)/);
    await build(["--rootfs", tree, "--output", `oci:${layout}:solo`, "--force"]);
    expect(refs().map((r: string[]) => r[0])).toEqual(["solo"]);
    expect(blobs().length).toBe(3);
    // A directory that is not a layout is still refused.
    const notLayout = join(tmp.path, "not-a-layout");
    mkdirSync(notLayout);
    expect((await runCli(["oci", "build", "--rootfs", tree, "--output", `oci:${notLayout}:x`])).code).toBe(6);
    // A layout whose index.json is broken: one line, before any work, and the layout untouched.
    // Read as a source (inspect, push, index), the same line.
    writeFileSync(join(layout, "index.json"), "{not json");
    const broken = await runCli(["oci", "build", "--rootfs", tree, "--output", `oci:${layout}:x`]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^apt-ostree: .*multi is not a valid OCI image layout \(index.json: .*\)\n$/);
    for (const args of [["inspect", `oci:${layout}`], ["index", `oci:${join(tmp.path, "multi-i")}:x`, `oci:${layout}:solo`]]) {
      const read = await runCli(["oci", ...args]);
      expect(read.code).toBe(1);
      expect(read.stderr).toMatch(/^apt-ostree: .*multi is not a valid OCI image layout \(index.json: .*\)\n$/);
    }
    expect(existsSync(join(tmp.path, "multi-i"))).toBe(false);
    expect(blobs().length).toBe(3);
    expect(readFileSync(join(layout, "index.json"), "utf8")).toBe("{not json");
  });

  it("serialises writers of one layout with a lock file, taking over a lock whose process is gone", async () => {
    const layout = join(tmp.path, "locked");
    const refs = () => JSON.parse(readFileSync(join(layout, "index.json"), "utf8")).manifests.map((m: any) => m.annotations["org.opencontainers.image.ref.name"]).sort();
    await build(["--rootfs", tree, "--output", `oci:${layout}:base`]);
    // Four builds at once, each with its own tag and label: every entry lands, every blob is there.
    const results = await Promise.all([0, 1, 2, 3].map((i) => runCli(["oci", "build", "--rootfs", tree, "--output", `oci:${layout}:c${i}`, "--label", `n=${i}`])));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    expect(refs()).toEqual(["base", "c0", "c1", "c2", "c3"]);
    for (const i of [0, 1, 2, 3]) expect(skopeoConfig(`oci:${layout}:c${i}`).config.Labels).toEqual({ n: String(i) });
    const lock = join(layout, ".apt-ostree.lock");
    expect(existsSync(lock)).toBe(false);
    // A lock held by a live process (this one): the writer waits, then gives up with one line,
    // leaving the layout as it was.
    writeFileSync(lock, String(process.pid));
    const blocked = await runCli(["oci", "build", "--rootfs", tree, "--output", `oci:${layout}:late`], { env: { APT_OSTREE_LOCK_TIMEOUT: "1" } });
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toBe(`apt-ostree: ${layout} is locked by process ${process.pid} (${lock}); remove the file if that process is not writing to it\n`);
    expect(refs()).toEqual(["base", "c0", "c1", "c2", "c3"]);
    expect(readdirSync(tmp.path).filter((n) => n.startsWith(".locked"))).toEqual([]);
    // The lock of a process that is gone is taken over.
    const gone = spawn("true");
    await new Promise((r) => gone.on("exit", r));
    writeFileSync(lock, String(gone.pid));
    await build(["--rootfs", tree, "--output", `oci:${layout}:late`]);
    expect(refs()).toEqual(["base", "c0", "c1", "c2", "c3", "late"]);
    expect(existsSync(lock)).toBe(false);
    // A lock with no pid in it (a writer that died mid-write) is taken over once it is old.
    writeFileSync(lock, "");
    utimesSync(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    await build(["--rootfs", tree, "--output", `oci:${layout}:later`]);
    expect(refs()).toEqual(["base", "c0", "c1", "c2", "c3", "late", "later"]);
    expect(readdirSync(layout).filter((n) => n.startsWith(".apt-ostree.lock"))).toEqual([]);
  });

  it("makes one multi-platform image of several (oci index), which skopeo resolves per architecture", async () => {
    const layout = join(tmp.path, "multiarch");
    const amd64 = await build(["--rootfs", tree, "--output", `oci:${layout}:amd64`, "--arch", "amd64"]);
    const arm64 = await build(["--rootfs", tree, "--output", `oci:${layout}:arm64`, "--arch", "arm64"]);
    const r = await runCli(["oci", "index", `oci:${layout}:latest`, `oci:${layout}:amd64`, `oci:${layout}:arm64`, "--annotation", "org.example.release=1", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.platforms).toEqual(["linux/amd64", "linux/arm64/v8"]);
    const index = skopeoInspect(`oci:${layout}:latest`, true);
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(index.manifests.map((m: any) => [m.digest, m.platform.architecture])).toEqual([[amd64.digest, "amd64"], [arm64.digest, "arm64"]]);
    expect(index.annotations).toEqual({ "org.example.release": "1" });
    expect(sha256sum(join(layout, "blobs/sha256", result.digest.slice(7)))).toBe(result.digest);
    // skopeo picks the platform asked for, and copies every platform.
    const onArm = JSON.parse(sh("skopeo", ["inspect", "--override-arch", "arm64", `oci:${layout}:latest`]));
    expect(onArm.Architecture).toBe("arm64");
    sh("skopeo", ["copy", "--all", `oci:${layout}:latest`, `oci:${join(tmp.path, "multiarch-copy")}:x`]);
    expect(skopeoInspect(`oci:${join(tmp.path, "multiarch-copy")}:x`, true).manifests).toHaveLength(2);
    // Into another layout and an oci-archive: the blobs are copied; an index source gives its platforms.
    const armhf = await build(["--rootfs", tree, "--output", `oci-archive:${join(tmp.path, "armhf.tar")}`, "--arch", "armhf"]);
    const other = join(tmp.path, "multiarch-2");
    const r2 = await runCli(["oci", "index", `oci:${other}:all`, `oci:${layout}:latest`, `oci-archive:${join(tmp.path, "armhf.tar")}`, "--json"]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout).platforms).toEqual(["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    const onArmhf = JSON.parse(sh("skopeo", ["inspect", "--override-arch", "arm", "--override-variant", "v7", `oci:${other}:all`]));
    expect(onArmhf.Architecture).toBe("arm");
    expect(skopeoInspect(`oci:${other}:all`, true).manifests[2].digest).toBe(armhf.digest);
    for (const name of readdirSync(join(other, "blobs/sha256"))) expect(sha256sum(join(other, "blobs/sha256", name))).toBe(`sha256:${name}`);
    // Two images for one platform, a docker-archive output, a missing source: one line, nothing written.
    const cases: [string[], RegExp, number][] = [
      [[`oci:${layout}:dup`, `oci:${layout}:amd64`, `oci:${layout}:latest`], /two images for linux\/amd64: oci:.*:amd64 and oci:.*:latest/, 2],
      [[`docker-archive:${join(tmp.path, "multi.tar")}`, `oci:${layout}:amd64`], /a docker-archive holds one platform's image/, 2],
      [[`oci:${join(tmp.path, "multiarch-3")}:x`, `oci:${layout}:nosuch`], /no image tagged 'nosuch'/, 3],
    ];
    for (const [args, message, code] of cases) {
      const bad = await runCli(["oci", "index", ...args]);
      expect(bad.code, bad.stderr).toBe(code);
      expect(bad.stderr).toMatch(message);
      expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    }
    expect(JSON.parse(readFileSync(join(layout, "index.json"), "utf8")).manifests.map((m: any) => m.annotations["org.opencontainers.image.ref.name"])).toEqual(["amd64", "arm64", "latest"]);
    expect(existsSync(join(tmp.path, "multi.tar")) || existsSync(join(tmp.path, "multiarch-3"))).toBe(false);
    expect(readdirSync(tmp.path).filter((n) => n.startsWith(".multiarch"))).toEqual([]);
  });

  it("writes files over 8 GiB (sparse in the source) with PAX sizes", async () => {
    const big = join(tmp.path, "big");
    mkdirSync(big);
    execFileSync("truncate", ["-s", String(8 * 1024 ** 3 + 4096), join(big, "huge")]);
    writeFileSync(join(big, "after"), "after the big one\n");
    const out = join(tmp.path, "big.oci");
    const r = await build(["--rootfs", big, "--output", `oci:${out}:t`, "--compression", "zstd"]);
    const listing = execFileSync("sh", ["-c", `zstd -dc '${join(out, "blobs/sha256", r.layers[0].digest.slice(7))}' | tar -tvf -`]).toString();
    expect(listing).toMatch(new RegExp(`\\s${8 * 1024 ** 3 + 4096}\\s.*huge`));
    expect(listing).toMatch(/after/);
  }, 600_000);
});

describe("oci build --source (OSTree)", () => {
  let checksum = "";
  beforeAll(() => {
    checksum = execFileSync("ostree", ["commit", `--repo=${repo}`, "-b", "test/hard", "-s", "hard cases", "--add-metadata-string=version=42.1", "--timestamp=@1700000000", ostreeTree]).toString().trim();
  });

  it("exports a commit with its labels, created time and /usr/etc as /etc (the original design's form)", async () => {
    const out = join(tmp.path, "my-image.oci");
    // The design document's exact form.
    const r = await runCli(["oci", "build", "--source", "test/hard", "--output", out, "--format", "oci", "--repo", repo]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    const inspect = skopeoInspect(`oci:${out}:latest`);
    expect(inspect.Labels["ostree.commit"]).toBe(checksum);
    expect(inspect.Labels["org.opencontainers.image.version"]).toBe("42.1");
    expect(inspect.Created).toBe("2023-11-14T22:13:20Z");
    const manifest = skopeoInspect(`oci:${out}:latest`, true);
    expect(manifest.annotations["ostree.commit"]).toBe(checksum);
    // No checkout left behind in the repository.
    expect(readdirSync(join(repo, "tmp")).filter((n) => n.startsWith("apt-ostree"))).toEqual([]);
    const bundle = join(tmp.path, "ostree.bundle");
    umociUnpack(out, "latest", bundle);
    expect(existsSync(join(bundle, "rootfs/etc/os-release"))).toBe(true);
    expect(existsSync(join(bundle, "rootfs/usr/etc"))).toBe(false);
    // Everything else as committed; OSTree keeps no mtimes, the layer says 0.
    expectSameTree(ostreeTree, join(bundle, "rootfs"), { usrEtcAsEtc: true, mtimeClamp: 0 });
    expect(r.stderr).toBe("");
    // A commit with both: written as is, with a warning.
    const both = join(tmp.path, "both-etc");
    mkdirSync(join(both, "etc"), { recursive: true });
    mkdirSync(join(both, "usr/etc"), { recursive: true });
    writeFileSync(join(both, "etc/a"), "a");
    writeFileSync(join(both, "usr/etc/b"), "b");
    execFileSync("ostree", ["commit", `--repo=${repo}`, "-b", "test/both-etc", both]);
    const w = await build(["--source", "test/both-etc", "--repo", repo, "--output", join(tmp.path, "both-etc.oci")]);
    expect(w.stderr).toBe("apt-ostree: warning: the commit has both /etc and /usr/etc: both are written as they are, /usr/etc not as /etc (ostree would not deploy such a commit)\n");
  });

  it("is deterministic across builds and ways of reading the repository, and marks bootc images", async () => {
    const a = await build(["--source", checksum.slice(0, 10), "--repo", repo, "--output", join(tmp.path, "os-a"), "--bootc"]);
    await new Promise((r) => setTimeout(r, 1100));
    const b = await build(["--source", "test/hard", "--repo", repo, "--output", join(tmp.path, "os-b"), "--bootc"]);
    expect(b.digest).toBe(a.digest);
    // A bare repository is read in place, from the root checksums `ostree show --raw` ends with.
    const raw = execFileSync("ostree", ["show", `--repo=${repo}`, "--raw", checksum]).toString();
    const ls = execFileSync("ostree", ["ls", `--repo=${repo}`, "-d", "-C", checksum, "/"]).toString().trim().split(/\s+/);
    expect(parseRootChecksums(raw)).toEqual({ dirtree: ls[4], dirmeta: ls[5] });
    // The same commit checked out gives the same bytes.
    const checkedOut = await build(["--source", "test/hard", "--repo", repo, "--output", join(tmp.path, "os-c"), "--bootc"], { APT_OSTREE_READ: "checkout" });
    expect(checkedOut.digest).toBe(a.digest);
    // A repository whose objects live in its parent repository is checked out (ostree follows the parent).
    const child = join(tmp.path, "child-repo");
    execFileSync("ostree", ["init", `--repo=${child}`, "--mode=bare"]);
    execFileSync("ostree", ["config", `--repo=${child}`, "set", "core.parent", repo]);
    const fromChild = await build(["--source", checksum, "--repo", child, "--output", join(tmp.path, "os-e"), "--bootc"]);
    expect(fromChild.digest).toBe(a.digest);
    // The commit pulled into archive (compressed objects) and bare-user (metadata in an xattr)
    // repositories is read in place too, with the same bytes: the image depends on the commit, not
    // on how a repository stores it. Checked out, an archive repository cannot hardlink equal files:
    // the same entries, other bytes.
    for (const mode of ["archive", "bare-user"]) {
      const other = join(tmp.path, `${mode}-repo`);
      execFileSync("ostree", ["init", `--repo=${other}`, `--mode=${mode}`]);
      execFileSync("ostree", ["pull-local", `--repo=${other}`, repo, "test/hard"]);
      const inPlace = await build(["--source", "test/hard", "--repo", other, "--output", join(tmp.path, `os-${mode}`), "--bootc"]);
      expect(inPlace.digest, mode).toBe(a.digest);
      expect(readdirSync(join(other, "tmp")).filter((n) => n.startsWith("apt-ostree"))).toEqual([]);
    }
    // bare-user-only keeps no owner, xattrs or setuid bits, so the tree committed there is another
    // commit; read in place it gives the bytes of its own checkout (root's checkout: 0:0 as well).
    const userOnly = join(tmp.path, "bare-user-only-repo");
    execFileSync("ostree", ["init", `--repo=${userOnly}`, "--mode=bare-user-only"]);
    execFileSync("ostree", ["commit", `--repo=${userOnly}`, "-b", "test/user-only", ostreeTree]);
    const userOnlyCheckout = await build(["--source", "test/user-only", "--repo", userOnly, "--output", join(tmp.path, "os-uo-c")], { APT_OSTREE_READ: "checkout" });
    expect(userOnlyCheckout.digest).not.toBe(a.digest);
    // Objects written by another user are that user's: a checkout shows it, the commit (read in
    // place) still says 0:0.
    execFileSync("sh", ["-c", `find '${userOnly}/objects' -name '*.file' -exec chown -h 4321:4321 {} +`]);
    const userOnlyInPlace = await build(["--source", "test/user-only", "--repo", userOnly, "--output", join(tmp.path, "os-uo")]);
    expect(userOnlyInPlace.digest).toBe(userOnlyCheckout.digest);
    const chownedCheckout = await build(["--source", "test/user-only", "--repo", userOnly, "--output", join(tmp.path, "os-uo-c2")], { APT_OSTREE_READ: "checkout" });
    expect(chownedCheckout.digest).not.toBe(userOnlyCheckout.digest);
    expect(readdirSync(join(userOnly, "tmp")).filter((n) => n.startsWith("apt-ostree"))).toEqual([]);
    const archiveCheckout = await build(["--source", "test/hard", "--repo", join(tmp.path, "archive-repo"), "--output", join(tmp.path, "os-d"), "--bootc"], { APT_OSTREE_READ: "checkout" });
    expect(archiveCheckout.layers.map((l: { entries: number }) => l.entries)).toEqual(a.layers.map((l: { entries: number }) => l.entries));
    expect(archiveCheckout.digest).not.toBe(a.digest);
    const labels = skopeoInspect(`oci:${join(tmp.path, "os-a")}:latest`).Labels;
    expect(labels["containers.bootc"]).toBe("1");
    expect(labels["ostree.bootable"]).toBe("true");
  });
});

describe("oci build --bootc", () => {
  it("gives cmd /sbin/init only where init leads to a file inside the tree: a dangling one is missing, with the warning", async () => {
    // Merged /usr, as Debian's: /sbin -> usr/sbin, init -> /lib/systemd/systemd (absolute: the tree's).
    const merged = join(tmp.path, "init-tree");
    mkdirSync(join(merged, "usr/sbin"), { recursive: true });
    mkdirSync(join(merged, "usr/lib/systemd"), { recursive: true });
    execFileSync("ln", ["-s", "usr/sbin", join(merged, "sbin")]);
    execFileSync("ln", ["-s", "usr/lib", join(merged, "lib")]);
    execFileSync("ln", ["-s", "/lib/systemd/systemd", join(merged, "usr/sbin/init")]);
    writeFileSync(join(merged, "usr/lib/systemd/systemd"), "#!/bin/sh\n");
    const dangling = join(tmp.path, "init-dangling");
    execFileSync("cp", ["-a", merged, dangling]);
    execFileSync("rm", [join(dangling, "usr/lib/systemd/systemd")]);
    const noInit = "--bootc: the tree has no /sbin/init (Debian's is in systemd-sysv), so the image gets no cmd";
    for (const [name, tree, cmd] of [["init", merged, ["/sbin/init"]], ["init-dangling", dangling, undefined]] as const) {
      execFileSync("ostree", ["commit", `--repo=${repo}`, "-b", `test/${name}`, tree]);
      for (const source of [["--rootfs", tree], ["--source", `test/${name}`, "--repo", repo]]) {
        const out = join(tmp.path, `${name}-${source[0].slice(2)}.oci`);
        const result = await build([...source, "--output", out, "--bootc"]);
        expect(result.warnings.includes(noInit), `${name} ${source[0]}`).toBe(cmd === undefined);
        expect(skopeoConfig(`oci:${out}:latest`).config.Cmd, `${name} ${source[0]}`).toEqual(cmd);
      }
    }
  });
});

describe("bad input", () => {
  it("refuses a missing repository, a missing ref, a bad label, an existing output", async () => {
    const cases: [string[], RegExp, number][] = [
      [["--source", "x", "--repo", join(tmp.path, "nope"), "--output", join(tmp.path, "o1")], /not an OSTree repository/, 3],
      [["--source", "no/such/ref", "--repo", repo, "--output", join(tmp.path, "o2")], /no ref or commit 'no\/such\/ref'/, 3],
      // A full checksum, which rev-parse gives back unchecked.
      [["--source", "0".repeat(64), "--repo", repo, "--output", join(tmp.path, "o2")], new RegExp(`^apt-ostree: no ref or commit '${"0".repeat(64)}' in OSTree repository ${repo}\n$`), 3],
      [["--rootfs", tree, "--output", join(tmp.path, "o3"), "--label", "novalue"], /invalid label 'novalue'/, 2],
      [["--rootfs", join(tmp.path, "missing-dir"), "--output", join(tmp.path, "o4")], /no such directory/, 3],
      [["--rootfs", tree], /--output is required/, 2],
      [["--rootfs", tree, "--output", join(tmp.path, "o5"), "--compression", "lz4"], /invalid --compression 'lz4'/, 2],
      [["--rootfs", tree, "--output", join(tmp.path, "o6"), "--bogus"], /Unknown option/i, 2],
    ];
    for (const [args, message, code] of cases) {
      const r = await runCli(["oci", "build", ...args]);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stdout).toBe("");
    }
    // A commit whose metadata names an architecture no image can carry: refused before any work.
    execFileSync("ostree", ["commit", `--repo=${repo}`, "-b", "test/sparc", "--add-metadata-string=apt-ostree.architecture=sparc69", ostreeTree]);
    const sparc = await runCli(["oci", "build", "--source", "test/sparc", "--repo", repo, "--output", join(tmp.path, "o7")]);
    expect(sparc.code).toBe(2);
    expect(sparc.stderr).toBe("apt-ostree: unknown architecture 'sparc69': pass --arch (a Debian architecture)\n");
    expect(readdirSync(tmp.path).filter((n) => n.startsWith(".o7"))).toEqual([]);
    expect(readdirSync(join(repo, "tmp")).filter((n) => n.startsWith("apt-ostree"))).toEqual([]);
    const sparcAsArm = await runCli(["oci", "build", "--source", "test/sparc", "--repo", repo, "--output", join(tmp.path, "o8"), "--arch", "arm64", "--json"]);
    expect(sparcAsArm.code, sparcAsArm.stderr).toBe(0);
    for (const n of ["o1", "o2", "o3", "o4", "o5", "o6", "o7"]) expect(existsSync(join(tmp.path, n))).toBe(false);
    const existing = join(tmp.path, "exists");
    mkdirSync(existing);
    const r = await runCli(["oci", "build", "--rootfs", tree, "--output", existing]);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/already exists \(use --force/);
    const forced = await runCli(["oci", "build", "--rootfs", tree, "--output", existing, "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(existsSync(join(existing, "index.json"))).toBe(true);
    // --force replaces an image, not a directory of other things.
    const notImage = join(tmp.path, "not-an-image");
    mkdirSync(notImage);
    writeFileSync(join(notImage, "notes.txt"), "keep me");
    const refused = await runCli(["oci", "build", "--rootfs", tree, "--output", notImage, "--force"]);
    expect([refused.code, refused.stderr]).toEqual([6, `apt-ostree: ${notImage} is a directory that is not an OCI image layout: choose another output (--force replaces images only; remove it yourself if it should go)\n`]);
    expect(readFileSync(join(notImage, "notes.txt"), "utf8")).toBe("keep me");
    // The same without --force: no hint to use it.
    const notForced = await runCli(["oci", "build", "--rootfs", tree, "--output", `oci:${notImage}:x`]);
    expect([notForced.code, notForced.stderr]).toEqual(refused.code === 6 ? [6, refused.stderr] : []);
    const notArchive = join(notImage, "notes.txt");
    const refusedFile = await runCli(["oci", "build", "--rootfs", tree, "--output", `oci-archive:${notArchive}`, "--force"]);
    expect([refusedFile.code, refusedFile.stderr]).toEqual([6, `apt-ostree: ${notArchive} is a file that is not an image archive: choose another output (--force replaces images only; remove it yourself if it should go)\n`]);
    expect(readFileSync(notArchive, "utf8")).toBe("keep me");
    // An archive is an image: --force replaces it.
    const archive = join(tmp.path, "replaced.tar");
    for (let i = 0; i < 2; i++) {
      const r = await runCli(["oci", "build", "--rootfs", tree, "--output", `oci-archive:${archive}`, "--force", "--label", `n=${i}`]);
      expect(r.code, r.stderr).toBe(0);
    }
    // The output's directory is checked before any work: not a directory, not writable.
    const notDir = await runCli(["oci", "build", "--rootfs", tree, "--output", join(notArchive, "img")]);
    expect([notDir.code, notDir.stderr]).toEqual([2, `apt-ostree: output directory ${notArchive} is not a directory\n`]);
  });

  it("refuses an output that is or holds the source tree or repository, even with --force", async () => {
    const src = join(tmp.path, "keep-src");
    mkdirSync(join(src, "sub"), { recursive: true });
    writeFileSync(join(src, "sub", "file"), "precious\n");
    const same = await runCli(["oci", "build", "--rootfs", src, "--output", src, "--force"]);
    expect(same.code).toBe(2);
    expect(same.stderr).toBe(`apt-ostree: output ${src} is the source ${src}: replacing it would delete the source; choose another output\n`);
    const parent = await runCli(["oci", "build", "--rootfs", join(src, "sub"), "--output", src, "--force"]);
    expect(parent.code).toBe(2);
    expect(parent.stderr).toMatch(/holds the source/);
    expect(readFileSync(join(src, "sub", "file"), "utf8")).toBe("precious\n");
    const keepRepo = join(tmp.path, "keep-repo");
    execFileSync("ostree", ["init", `--repo=${keepRepo}`, "--mode=bare"]);
    execFileSync("ostree", ["commit", `--repo=${keepRepo}`, "-b", "k", src]);
    const repoOut = await runCli(["oci", "build", "--source", "k", "--repo", keepRepo, "--output", keepRepo, "--force"]);
    expect(repoOut.code).toBe(2);
    expect(repoOut.stderr).toMatch(/is the source/);
    expect(execFileSync("ostree", ["refs", `--repo=${keepRepo}`]).toString().trim()).toBe("k");
  });

  it("reports an unreadable file and leaves nothing behind", async () => {
    const dir = join(tmp.path, "unreadable");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "sub", "secret"), "secret");
    chmodSync(join(dir, "sub", "secret"), 0o000);
    const outDir = join(tmp.path, "nobody-out");
    mkdirSync(outDir);
    execFileSync("chown", ["65534:65534", outDir]);
    execFileSync("chmod", ["755", tmp.path]);
    const [bin] = (await import("./helpers/cli.ts")).binaryCommand();
    const r = spawnSyncNobody(bin, ["oci", "build", "--rootfs", dir, "--output", join(outDir, "img")]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/sub\/secret.*Permission denied/);
    expect(readdirSync(outDir)).toEqual([]);
  });

  it("reads a commit in place from a repository it cannot write to (the planning files go to $TMPDIR)", async () => {
    const src = join(tmp.path, "ro-src");
    mkdirSync(join(src, "var/lib/dpkg/info"), { recursive: true });
    mkdirSync(join(src, "usr/share/pkg"), { recursive: true });
    writeFileSync(join(src, "usr/share/pkg/file"), "x\n");
    writeFileSync(join(src, "var/lib/dpkg/status"), "Package: pkg\nStatus: install ok installed\nArchitecture: all\nInstalled-Size: 1\n");
    writeFileSync(join(src, "var/lib/dpkg/info/pkg.list"), "/.\n/usr\n/usr/share\n/usr/share/pkg\n/usr/share/pkg/file\n");
    const roRepo = join(tmp.path, "ro-repo");
    // nobody must reach the repository (also when this test runs alone).
    execFileSync("chmod", ["755", tmp.path]);
    execFileSync("ostree", ["init", `--repo=${roRepo}`, "--mode=bare"]);
    execFileSync("ostree", ["commit", `--repo=${roRepo}`, "-b", "ro", src]);
    mkdirSync(join(roRepo, "tmp"), { recursive: true });
    execFileSync("chmod", ["-R", "go+rX", roRepo]);
    const outDir = join(tmp.path, "ro-out");
    mkdirSync(outDir);
    execFileSync("chown", ["65534:65534", outDir]);
    const [bin] = (await import("./helpers/cli.ts")).binaryCommand();
    const r = spawnSyncNobody(bin, ["oci", "build", "--source", "ro", "--repo", roRepo, "--output", join(outDir, "img"), "--json"]);
    expect(r.status, r.stderr).toBe(0);
    // Planned from the database it could not check out into the repository: the package got its layer.
    expect(JSON.parse(r.stdout).layers.map((l: { packages?: string[] }) => l.packages)).toEqual([["pkg"], undefined]);
    expect(readdirSync(join(roRepo, "tmp")).filter((n) => n.startsWith("apt-ostree"))).toEqual([]);
    expect(readdirSync("/tmp").filter((n) => n.startsWith("apt-ostree-plan-"))).toEqual([]);
  });

  it("fails cleanly on a full disk", async () => {
    const small = join(tmp.path, "small");
    mkdirSync(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", small]);
    try {
      const big = join(tmp.path, "random");
      mkdirSync(big);
      execFileSync("sh", ["-c", `head -c ${8 << 20} /dev/urandom > '${join(big, "noise")}'`]);
      const r = await runCli(["oci", "build", "--rootfs", big, "--output", join(small, "img")]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/No space left on device|disk full/);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(readdirSync(small)).toEqual([]);
      // Read-only: refused before any work, in words.
      execFileSync("mount", ["-o", "remount,ro", small]);
      const ro = await runCli(["oci", "build", "--rootfs", big, "--output", join(small, "img")]);
      expect([ro.code, ro.stderr]).toEqual([1, `apt-ostree: cannot write to output directory ${small}: read-only file system\n`]);
    } finally {
      execFileSync("umount", [small]);
    }
  });

  it("leaves nothing behind when interrupted with SIGINT", async () => {
    const big = join(tmp.path, "interrupt-src");
    mkdirSync(big);
    execFileSync("sh", ["-c", `head -c ${512 << 20} /dev/urandom > '${join(big, "noise")}'`]);
    const outDir = join(tmp.path, "interrupt-out");
    mkdirSync(outDir);
    const [bin, ...pre] = (await import("./helpers/cli.ts")).binaryCommand();
    const interrupt = async (source: string[]) => {
      const child = spawn(bin, [...pre, "oci", "build", ...source, "--output", join(outDir, "img"), "--threads", "1"], { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      // Wait until the temporary layout exists, then interrupt.
      for (let i = 0; i < 200 && readdirSync(outDir).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      await new Promise((r) => setTimeout(r, 300));
      child.kill("SIGINT");
      const code = await new Promise<number>((resolve) => child.on("close", (c, s) => resolve(c ?? (s ? 128 : 1))));
      expect(code).toBe(130);
      expect(stderr).toMatch(/interrupted/);
      expect(readdirSync(outDir)).toEqual([]);
    };
    await interrupt(["--rootfs", big]);
    // From a commit read in place: the planning checkout in the repository goes too.
    execFileSync("ostree", ["commit", `--repo=${repo}`, "-b", "test/noise", big]);
    await interrupt(["--source", "test/noise", "--repo", repo]);
    expect(readdirSync(join(repo, "tmp")).filter((n) => n.startsWith("apt-ostree"))).toEqual([]);
  });

  it("names (never removes) what a killed run left beside the output", async () => {
    const outDir = join(tmp.path, "leftovers");
    mkdirSync(outDir);
    // A run killed with SIGKILL (process 999999: none here) and one still running (process 1).
    const dead = join(outDir, ".img.layout-999999-abc123");
    const live = join(outDir, ".img.tmp-1-abc123");
    mkdirSync(dead);
    writeFileSync(live, "");
    const src = join(tmp.path, "leftovers-src");
    mkdirSync(src);
    writeFileSync(join(src, "file"), "content\n");
    const r = await runCli(["oci", "build", "--rootfs", src, "--output", join(outDir, "img"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const warning = `${dead} is left from an interrupted run (its process is gone): remove it to free the space`;
    expect(r.stderr).toBe(`apt-ostree: warning: ${warning}\n`);
    expect(JSON.parse(r.stdout).warnings).toEqual([warning]);
    expect(readdirSync(outDir).sort()).toEqual([".img.layout-999999-abc123", ".img.tmp-1-abc123", "img"]);
  });

  it("an interrupt while the archive itself is written removes it (the archive's copy lets the signal in)", async () => {
    // A sparse 512 MiB file: its layer is quick to make (holes are not read), its archive is a
    // 512 MiB copy, long enough to interrupt in the middle.
    const src = join(tmp.path, "archive-interrupt-src");
    mkdirSync(src);
    execFileSync("truncate", ["-s", "512M", join(src, "sparse")]);
    const outDir = join(tmp.path, "archive-interrupt-out");
    mkdirSync(outDir);
    const [bin, ...pre] = binaryCommand();
    const outcomes: string[] = [];
    for (const format of ["oci-archive", "docker-archive"]) {
      const child = spawn(bin, [...pre, "oci", "build", "--rootfs", src, "--output", `${format}:${join(outDir, "img.tar")}`, "--compression", "none"], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      // The archive is written to `.img.tar.tmp-PID-...` once the layout is complete.
      const writing = () => readdirSync(outDir).some((n) => n.startsWith(".img.tar.tmp-"));
      for (let i = 0; i < 2000 && !writing() && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 2));
      const seen = writing();
      child.kill("SIGINT");
      const code = await new Promise<number>((resolve) => child.on("close", (c, s) => resolve(c ?? (s ? 128 : 1))));
      outcomes.push(`${format}: seen ${seen}, ${code} ${stderr.trim()} [${readdirSync(outDir).join(" ")}]`);
      rmSync(outDir, { recursive: true, force: true });
      mkdirSync(outDir);
    }
    expect(outcomes).toEqual(["oci-archive", "docker-archive"].map((f) => `${f}: seen true, 130 apt-ostree: interrupted (SIGINT); temporary output removed []`));
  });

  it("leaves nothing behind when interrupted at any point of a split export (the layers' own removal is waited for)", async () => {
    // Package layers, all written in one pass: several partial blobs that the export's threads
    // remove themselves when cancelled, while the interrupt handler removes the staging layout.
    const split = join(tmp.path, "interrupt-split");
    const packages = ["a", "b", "c", "d", "e", "f"];
    mkdirSync(join(split, "var/lib/dpkg/info"), { recursive: true });
    for (const name of packages) {
      mkdirSync(join(split, "usr/share", name), { recursive: true });
      execFileSync("sh", ["-c", `head -c ${40 << 20} /dev/urandom > '${join(split, "usr/share", name, "noise")}'`]);
      writeFileSync(join(split, "var/lib/dpkg/info", `${name}.list`), `/usr/share/${name}\n/usr/share/${name}/noise\n`);
    }
    writeFileSync(
      join(split, "var/lib/dpkg/status"),
      packages.map((name) => `Package: ${name}\nStatus: install ok installed\nArchitecture: all\nInstalled-Size: 40960\n`).join("\n"),
    );
    const outDir = join(tmp.path, "interrupt-split-out");
    mkdirSync(outDir);
    const [bin, ...pre] = binaryCommand();
    const outcomes: string[] = [];
    for (const delay of [0, 50, 100, 150, 200, 300, 400, 600]) {
      const child = spawn(bin, [...pre, "oci", "build", "--rootfs", split, "--output", join(outDir, "img")], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      for (let i = 0; i < 400 && readdirSync(outDir).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, delay));
      child.kill("SIGINT");
      const code = await new Promise<number>((resolve) => child.on("close", (c, s) => resolve(c ?? (s ? 128 : 1))));
      outcomes.push(`${delay} ms: ${code} ${stderr.trim()} [${readdirSync(outDir, { recursive: true }).join(" ")}]`);
      rmSync(outDir, { recursive: true, force: true });
      mkdirSync(outDir);
    }
    expect(outcomes).toEqual(
      [0, 50, 100, 150, 200, 300, 400, 600].map((delay) => `${delay} ms: 130 apt-ostree: interrupted (SIGINT); temporary output removed []`),
    );
  });
});

function spawnSyncNobody(bin: string, args: string[]) {
  const { spawnSync } = require("node:child_process") as typeof import("node:child_process");
  return spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", bin, ...args], { encoding: "utf8", env: { ...process.env, TMPDIR: "/tmp", HOME: "/tmp" } });
}
