// Real Debian root filesystems for the tests, made with mmdebstrap (the same command line
// `compose base` uses) and cached as tarballs under /var/cache/apt-ostree-tests/, keyed by the
// options: the first run takes a minute or two, later ones reuse the tarball.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { mmdebstrapArgs } from "../../src/compose/mmdebstrap.ts";
import { archiveSources, findRelease } from "../../src/compose/releases.ts";

export const CACHE_DIR = process.env.APT_OSTREE_TEST_CACHE ?? "/var/cache/apt-ostree-tests";

export interface DebianOptions {
  release?: string;
  arch?: string;
  variant?: string;
  include?: string[];
  mirror?: string;
  components?: string[];
}

/** As `compose base` bootstraps: the release with its -updates and -security suites. */
function argsFor(o: Required<DebianOptions>, target: string): string[] {
  return mmdebstrapArgs({ ...o, sources: archiveSources({ release: findRelease(o.release), mirror: o.mirror, components: o.components, updates: true }), target });
}

export function cacheKey(o: Required<DebianOptions>): string {
  const version = spawnSync("mmdebstrap", ["--version"], { encoding: "utf8" }).stdout.trim();
  const canonical = JSON.stringify({ ...o, include: [...o.include].sort(), version, args: argsFor(o, "T") });
  return `${o.release}-${o.arch}-${o.variant}-${createHash("sha256").update(canonical).digest("hex").slice(0, 12)}`;
}

/** Path of a cached mmdebstrap tarball for these options, building it when missing. */
export function debianTarball(options: DebianOptions = {}): string {
  const o: Required<DebianOptions> = {
    release: options.release ?? "bookworm",
    arch: options.arch ?? "amd64",
    variant: options.variant ?? "minbase",
    include: options.include ?? [],
    mirror: options.mirror ?? "http://deb.debian.org/debian",
    components: options.components ?? ["main"],
  };
  mkdirSync(CACHE_DIR, { recursive: true });
  const path = join(CACHE_DIR, `${cacheKey(o)}.tar`);
  if (existsSync(path)) return path;
  const partial = `${path}.${process.pid}.partial.tar`;
  const result = spawnSync("mmdebstrap", argsFor(o, partial), { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) {
    rmSync(partial, { force: true });
    throw new Error(`mmdebstrap failed (${result.status}): ${result.stderr.split("\n").filter((l) => l.startsWith("E:")).join("; ") || result.stderr.slice(-2000)}`);
  }
  renameSync(partial, path);
  return path;
}
