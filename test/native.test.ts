// The native addon through N-API, on Node (vitest forks pool): loads native/dist/addon.node as built
// by scripts/build-native.sh and checks what the TypeScript side relies on.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, linkSync, writeFileSync, chmodSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as Native from "../native/index.d.ts";
import { resolveBuildOptions } from "../src/cli/oci-build.ts";

const require = createRequire(import.meta.url);
const addon = require("../native/dist/addon.node") as typeof Native;

const sha256 = (data: Buffer) => "sha256:" + createHash("sha256").update(data).digest("hex");

let dir: string;
let small: string;
let large: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "aon-native-"));
  small = join(dir, "small");
  mkdirSync(join(small, "usr/bin"), { recursive: true });
  mkdirSync(join(small, "usr/etc"), { recursive: true });
  writeFileSync(join(small, "usr/bin/hello"), "#!/bin/sh\necho hello\n");
  chmodSync(join(small, "usr/bin/hello"), 0o755);
  writeFileSync(join(small, "usr/etc/os-release"), "ID=debian\n");
  linkSync(join(small, "usr/bin/hello"), join(small, "usr/bin/hello2"));
  symlinkSync("usr/bin", join(small, "bin"));
  execFileSync("mkfifo", [join(small, "usr/fifo")]);

  // Large enough that an export takes a while (~160 MiB of mildly compressible data).
  large = join(dir, "large");
  mkdirSync(large);
  const chunk = Buffer.alloc(8 << 20);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((Math.imul(i, 2654435761) >>> 12) & 0xffff, i);
  for (let i = 0; i < 20; i++) writeFileSync(join(large, `f${String(i).padStart(2, "0")}`), chunk);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("native addon", () => {
  it("exports a gzip layer whose digest and diffId match the bytes", async () => {
    const out = join(dir, "small.tar.gz");
    const [r] = await new addon.LayerExport({ root: small, output: out, compression: "gzip" }).run();
    const blob = readFileSync(out);
    expect(r.digest).toBe(sha256(blob));
    expect(r.size).toBe(blob.length);
    const tar = execFileSync("gzip", ["-dc", out], { maxBuffer: 1 << 30 });
    expect(r.diffId).toBe(sha256(tar));
    expect(r.uncompressedSize).toBe(tar.length);
    expect(r.warnings).toEqual([]);

    const listing = execFileSync("tar", ["--numeric-owner", "-tvf", out], { encoding: "utf8" });
    const names = execFileSync("tar", ["-tf", out], { encoding: "utf8" }).trim().split("\n");
    expect(names).toEqual([
      "bin",
      "usr/",
      "usr/bin/",
      "usr/bin/hello",
      "usr/bin/hello2",
      "usr/etc/",
      "usr/etc/os-release",
      "usr/fifo",
    ]);
    expect(r.entries).toBe(names.length);
    expect(listing).toMatch(/^-rwxr-xr-x \d+\/\d+ +21 .* usr\/bin\/hello$/m);
    expect(listing).toMatch(/^hrwxr-xr-x .* usr\/bin\/hello2 link to usr\/bin\/hello$/m);
    expect(listing).toMatch(/^lrwxrwxrwx .* bin -> usr\/bin$/m);
    expect(listing).toMatch(/^p.* usr\/fifo$/m);

    // Deterministic: a second run gives the same digests.
    const out2 = join(dir, "small2.tar.gz");
    const [r2] = await new addon.LayerExport({ root: small, output: out2, compression: "gzip", threads: 1 }).run();
    expect(r2).toEqual(r);
  });

  it("exports zstd and none, and usr/etc as etc", async () => {
    const zst = join(dir, "small.tar.zst");
    const [r] = await new addon.LayerExport({ root: small, output: zst, compression: "zstd", level: 3, usrEtcAsEtc: true }).run();
    expect(r.digest).toBe(sha256(readFileSync(zst)));
    const tar = execFileSync("zstd", ["-dc", zst], { maxBuffer: 1 << 30 });
    expect(r.diffId).toBe(sha256(tar));
    const names = execFileSync("tar", ["-tf", "-"], { input: tar, encoding: "utf8" }).trim().split("\n");
    expect(names).toContain("etc/os-release");
    expect(names.some((n) => n.startsWith("usr/etc"))).toBe(false);

    const plain = join(dir, "small.tar");
    const [p] = await new addon.LayerExport({ root: small, output: plain, compression: "none", usrEtcAsEtc: true }).run();
    expect(p.digest).toBe(p.diffId);
    expect(p.diffId).toBe(r.diffId);
  });

  it("writes every layer of a split in one run, each as its own export would", async () => {
    const lists = ["/etc/os-release\n", "/bin/hello2\n"];
    const outputs = [0, 1, 2].map((i) => join(dir, `split-${i}.tar.gz`));
    const job = new addon.LayerExport({ root: small, layerLists: lists, layerOutputs: outputs, listLinks: ["bin=usr/bin"], usrEtcAsEtc: true, compression: "gzip" });
    const results = await job.run();
    expect(results).toHaveLength(3);
    const names = outputs.map((o) => execFileSync("tar", ["-tf", o], { encoding: "utf8" }).trim().split("\n"));
    expect(names[0]).toEqual(["etc/", "etc/os-release"]);
    expect(names[1]).toEqual(["usr/", "usr/bin/", "usr/bin/hello2"]);
    expect(names[2]).toContain("usr/bin/hello");
    expect(names[2]).not.toContain("usr/bin/hello2");
    for (const [i, r] of results.entries()) {
      expect(r.digest).toBe(sha256(readFileSync(outputs[i]!)));
      expect(r.entries).toBe(names[i]!.length);
    }
    const end = job.progress();
    expect(end.layer).toBe(2);
    expect(end.bytesRead).toBe(results.reduce((n, r) => n + r.uncompressedSize, 0));
    expect(end.bytesWritten).toBe(results.reduce((n, r) => n + r.size, 0));
  });

  it("reports progress while running", async () => {
    const out = join(dir, "large-progress.tar.gz");
    const job = new addon.LayerExport({ root: large, output: out, compression: "gzip", level: 1 });
    expect(job.progress()).toEqual({ bytesRead: 0, bytesWritten: 0, entries: 0, layer: 0 });
    const seen: number[] = [];
    const timer = setInterval(() => seen.push(job.progress().bytesRead), 5);
    const [r] = await job.run();
    clearInterval(timer);
    const end = job.progress();
    expect(end.bytesRead).toBe(r.uncompressedSize);
    expect(end.bytesWritten).toBe(r.size);
    expect(end.entries).toBe(r.entries);
    expect(seen.some((n) => n > 0 && n < r.uncompressedSize)).toBe(true);
  });

  it("cancel() rejects with 'cancelled' and removes the partial output", async () => {
    const out = join(dir, "large-cancel.tar.gz");
    const job = new addon.LayerExport({ root: large, output: out, compression: "gzip", level: 9, threads: 1 });
    const running = job.run();
    const started = Date.now();
    while (job.progress().bytesRead === 0 && Date.now() - started < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    job.cancel();
    await expect(running).rejects.toThrow(/^cancelled/);
    expect(existsSync(out)).toBe(false);
  });

  it("cancelAndWait() returns once the export has stopped and removed its partial output", async () => {
    const out = join(dir, "large-cancel-wait.tar.gz");
    const job = new addon.LayerExport({ root: large, output: out, compression: "gzip", level: 9 });
    const running = job.run();
    const started = Date.now();
    while (job.progress().bytesRead === 0 && Date.now() - started < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(existsSync(out)).toBe(true);
    // Synchronous, as in a signal handler: no event loop turn between the cancel and the check.
    expect(job.cancelAndWait(10_000)).toBe(true);
    expect(existsSync(out)).toBe(false);
    await expect(running).rejects.toThrow(/^cancelled/);
    // Nothing running: it returns at once.
    expect(job.cancelAndWait(0)).toBe(true);
  });

  it("validates options with clear messages", async () => {
    expect(() => new addon.LayerExport({ root: small, output: join(dir, "x"), compression: "brotli" })).toThrow(
      /unknown compression "brotli"/,
    );
    expect(() => new addon.LayerExport({ root: small, layerOutputs: [join(dir, "x")], compression: "gzip", layerLists: ["/a\n"] })).toThrow(
      /^1 layer lists need 2 layer outputs, not 1$/,
    );
    expect(() => new addon.LayerExport({ root: small, output: join(dir, "x"), compression: "gzip", layerLists: ["/a\n"] })).toThrow(
      /output is for one layer: a split takes layer outputs/,
    );
    expect(() => new addon.LayerExport({ root: small, compression: "gzip" })).toThrow(/an output, or layer lists and layer outputs, are needed/);
    expect(() => new addon.LayerExport({ root: small, output: join(dir, "x"), compression: "gzip", level: 12 })).toThrow(
      /level 12 is out of range for gzip/,
    );
    const existing = join(dir, "existing");
    writeFileSync(existing, "keep");
    await expect(new addon.LayerExport({ root: small, output: existing, compression: "gzip" }).run()).rejects.toThrow(
      `cannot create ${existing}: File exists (os error 17)`,
    );
    expect(readFileSync(existing, "utf8")).toBe("keep");
    const missing = join(dir, "missing");
    await expect(new addon.LayerExport({ root: missing, output: join(dir, "y"), compression: "zstd" }).run()).rejects.toThrow(
      `cannot read ${missing}: No such file or directory (os error 2)`,
    );
    expect(existsSync(join(dir, "y"))).toBe(false);
  });

  it("the CLI's --level and --zstd-frames checks (which fail before any work) accept exactly what the core accepts", () => {
    const accepts = (fn: () => unknown) => {
      try {
        fn();
        return true;
      } catch {
        return false;
      }
    };
    const output = join(dir, "never-written");
    for (const compression of ["gzip", "zstd", "none"]) {
      for (let level = -10; level <= 25; level++) {
        const cli = accepts(() => resolveBuildOptions({ rootfs: "/t", output: "/o", compression, level: String(level) }, {}));
        const core = accepts(() => new addon.LayerExport({ root: small, output, compression, level }));
        expect(cli, `${compression} --level ${level}`).toBe(core);
      }
      for (const zstdFrames of ["many", "one", "two"]) {
        const cli = accepts(() => resolveBuildOptions({ rootfs: "/t", output: "/o", compression, zstdFrames }, {}));
        const core = accepts(() => new addon.LayerExport({ root: small, output, compression, zstdFrames }));
        expect(cli, `${compression} --zstd-frames ${zstdFrames}`).toBe(core);
      }
    }
    expect(existsSync(join(dir, "never-written"))).toBe(false);
  });

  it("scanTree counts what an export writes and keeps hardlink groups in one layer", async () => {
    const whole = await addon.scanTree({ root: small, usrEtcAsEtc: true });
    const out = join(dir, "small-scan.tar");
    const [r] = await new addon.LayerExport({ root: small, output: out, compression: "none", usrEtcAsEtc: true }).run();
    expect(whole.entries).toBe(r.entries);
    expect(whole.tarBytes).toBe(r.uncompressedSize);
    expect(whole.hardlinkMoves).toEqual([]);
    // hello (not listed: the last layer) and hello2 (layer 1): both go to layer 1.
    const split = await addon.scanTree({ root: small, layerLists: ["/etc/os-release\n", "/bin/hello2\n"], listLinks: ["bin=usr/bin"] });
    expect(split.hardlinkMoves).toEqual(["", "/usr/bin/hello\n"]);
    await expect(addon.scanTree({ root: join(dir, "missing") })).rejects.toThrow(/^cannot read .*missing: No such file/);
  });

  it("sha256File streams a file's digest", async () => {
    const f = join(dir, "large/f00");
    const r = await addon.sha256File(f);
    expect(r).toEqual({ digest: sha256(readFileSync(f)), size: 8 << 20 });
    await expect(addon.sha256File(join(dir, "nope"))).rejects.toThrow(/^cannot open .*nope: No such file/);
  });
});
