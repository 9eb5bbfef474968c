// Building the native crate from vendored crates (npm run test:release), as distribution packagers
// do: build.rs compiles a second copy of libdeflate's compressor from the libdeflate-sys crate's
// sources, and must find them in a `cargo vendor` directory when Cargo's registry is not there.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "./helpers/cli";
import { releaseTests } from "./release-helpers";

describe.skipIf(!releaseTests)("native crate from vendored sources", () => {
  let work: string;
  let crate: string;
  /** An empty CARGO_HOME: no registry, so only the vendored sources can be found. */
  let env: NodeJS.ProcessEnv;
  const run = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    spawnSync("cargo", args, { cwd: crate, env: { ...env, ...extra }, encoding: "utf8", timeout: 900_000 });
  const check = ["check", "--offline", "--locked", "--release", "--no-default-features", "--lib"];

  beforeAll(() => {
    work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), "apt-ostree-vendored-"));
    crate = join(work, "native");
    const files = spawnSync("git", ["ls-files", "native"], { cwd: projectRoot, encoding: "utf8" }).stdout.trim().split("\n");
    for (const f of files) {
      mkdirSync(dirname(join(work, f)), { recursive: true });
      cpSync(join(projectRoot, f), join(work, f));
    }
    // Vendoring takes every crate of Cargo.lock, other platforms' too, which no build here
    // downloaded: not --offline (a fresh machine has only what its builds needed).
    const vendor = spawnSync("cargo", ["vendor", "--locked", "vendor"], { cwd: crate, encoding: "utf8", timeout: 600_000 });
    expect(vendor.status, vendor.stderr).toBe(0);
    expect(vendor.stdout).toContain('directory = "vendor"');
    mkdirSync(join(crate, ".cargo"));
    writeFileSync(join(crate, ".cargo/config.toml"), vendor.stdout);
    mkdirSync(join(work, "cargo-home"));
    env = { ...process.env, CARGO_HOME: join(work, "cargo-home"), CARGO_TARGET_DIR: join(work, "target") };
    delete env.APT_OSTREE_LIBDEFLATE_SYS_DIR;
  }, 900_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("builds with an empty CARGO_HOME, from vendor/libdeflate-sys", () => {
    const r = run(check);
    expect(r.status, r.stderr).toBe(0);
    // The build script names the deflate_compress.c it compiled (rerun-if-changed).
    const build = join(work, "target/release/build");
    const outputs = readdirSync(build)
      .filter((d) => d.startsWith("apt-ostree-native-"))
      .flatMap((d) => {
        try {
          return [readFileSync(join(build, d, "output"), "utf8")];
        } catch {
          return [];
        }
      });
    expect(outputs.join("\n")).toContain(`rerun-if-changed=${join(crate, "vendor/libdeflate-sys/libdeflate/lib/deflate_compress.c")}`);
  }, 900_000);

  it("APT_OSTREE_LIBDEFLATE_SYS_DIR names the crate outright, and a wrong one is one clear error", () => {
    const good = run(check, { APT_OSTREE_LIBDEFLATE_SYS_DIR: join(crate, "vendor/libdeflate-sys") });
    expect(good.status, good.stderr).toBe(0);
    const bad = run(check, { APT_OSTREE_LIBDEFLATE_SYS_DIR: join(work, "nowhere") });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain(`APT_OSTREE_LIBDEFLATE_SYS_DIR=${join(work, "nowhere")} has no libdeflate/lib/deflate_compress.c`);
  }, 900_000);
});
