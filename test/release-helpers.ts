// Shared by the release tests (test/release-*.test.ts): the artifacts, a small deterministic test tree,
// the host's reference exports, clean Debian chroots made with mmdebstrap (cached as tarballs).
// The slow tests run only under `npm run test:release` (scripts/test-release.sh sets
// APT_OSTREE_RELEASE_TESTS=1 after building every target).
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "./helpers/cli";

export const releaseTests = process.env.APT_OSTREE_RELEASE_TESTS === "1";
export const version: string = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")).version;
export const binX64 = join(projectRoot, "dist/apt-ostree-linux-x64");
export const binArm64 = join(projectRoot, "dist/apt-ostree-linux-arm64");
export const debAmd64 = join(projectRoot, `dist/apt-ostree_${version}_amd64.deb`);
export const debArm64 = join(projectRoot, `dist/apt-ostree_${version}_arm64.deb`);
/** The addons scripts/build.sh embedded (copies: native/dist/ changes with every native build). */
export const addonX64 = join(projectRoot, "dist/addon-linux-x64.node");
export const addonArm64 = join(projectRoot, "dist/addon-linux-arm64.node");
export const cacheDir = process.env.APT_OSTREE_VM_CACHE ?? "/var/cache/apt-ostree-tests";

/** Every export in these tests uses these: the image must not depend on the host or the clock. */
export const SOURCE_DATE_EPOCH = "1700000000";
export const exportFlags = ["--arch", "amd64", "--tag", "t", "--json"];
/** [compression, threads]; threads "" = the default (all cores). */
export const matrix: [string, string][] = [
  ["gzip", "1"],
  ["gzip", "2"],
  ["gzip", ""],
  ["zstd", "1"],
  ["zstd", "2"],
  ["none", "1"],
];

export function sh(cmd: string, args: string[], options: { cwd?: string; env?: Record<string, string>; timeout?: number } = {}): string {
  return execFileSync(cmd, args, {
    encoding: "utf8",
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    timeout: options.timeout ?? 600_000,
    maxBuffer: 64 << 20,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** The commit the binaries were built from (HEAD may have moved since): what dist/apt-ostree-linux-x64 names. */
export function builtCommit(): string {
  const line = sh(binX64, ["--version"]).trim();
  const m = line.match(/^apt-ostree (\S+) \(commit (\S+), linux-x64\)$/);
  if (!m) throw new Error(`unexpected --version output: ${line}`);
  return m[2];
}

/** The `--version` line every binary of this build must print, for `target` (linux-x64, linux-arm64). */
export function versionLine(target: string): string {
  return `apt-ostree ${version} (commit ${builtCommit()}, ${target})`;
}

/** e_machine of an ELF file: 62 x86-64, 183 AArch64. */
export function elfMachine(bytes: Buffer): number {
  if (bytes.readUInt32BE(0) !== 0x7f454c46) throw new Error("not an ELF file");
  return bytes.readUInt16LE(18);
}

// A deterministic pseudo-random generator: the same tree on every host.
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

/**
 * Writes a small tree with what a root filesystem has: nested directories, an empty one, small text
 * files, an executable, a setuid file, symlinks, a hardlink, and 8 MiB of compressible data so that
 * two compression threads really split the work.
 */
export function writeTestTree(dir: string): void {
  const rand = lcg(42);
  const words = ["apt", "ostree", "debian", "ubuntu", "layer", "tar", "gzip", "zstd", "digest", "sha256", "bookworm", "\n"];
  const text = (n: number) => {
    const parts: string[] = [];
    let len = 0;
    while (len < n) {
      const w = words[rand() % words.length] + (rand() % 7 === 0 ? String(rand() % 1000) : "") + " ";
      parts.push(w);
      len += w.length;
    }
    return parts.join("").slice(0, n);
  };
  mkdirSync(join(dir, "usr/bin"), { recursive: true });
  mkdirSync(join(dir, "usr/share/doc/demo"), { recursive: true });
  mkdirSync(join(dir, "etc/demo.d"), { recursive: true });
  mkdirSync(join(dir, "var/empty"), { recursive: true });
  for (let i = 0; i < 120; i++) writeFileSync(join(dir, "usr/share/doc/demo", `file-${String(i).padStart(3, "0")}.txt`), text(200 + (rand() % 5000)));
  writeFileSync(join(dir, "etc/demo.d/demo.conf"), "setting = 1\n");
  writeFileSync(join(dir, "etc/hostname"), "demo\n");
  writeFileSync(join(dir, "usr/bin/demo"), "#!/bin/sh\necho demo\n");
  chmodSync(join(dir, "usr/bin/demo"), 0o755);
  writeFileSync(join(dir, "usr/bin/demo-suid"), "#!/bin/sh\n");
  chmodSync(join(dir, "usr/bin/demo-suid"), 0o4755);
  symlinkSync("demo", join(dir, "usr/bin/demo-link"));
  symlinkSync("/usr/share/doc/demo/file-000.txt", join(dir, "etc/demo.d/absolute-link"));
  linkSync(join(dir, "usr/bin/demo"), join(dir, "usr/bin/demo-hardlink"));
  // 8 MiB: text with random runs of binary noise.
  const big = Buffer.alloc(8 << 20);
  let at = 0;
  while (at < big.length) {
    if (rand() % 4 === 0) {
      const n = Math.min(big.length - at, 512 + (rand() % 4096));
      for (let i = 0; i < n; i++) big[at + i] = rand() >>> 24;
      at += n;
    } else {
      at += big.write(text(4096), at, "latin1");
    }
  }
  writeFileSync(join(dir, "usr/share/doc/demo/big.bin"), big);
}

export interface ExportResult {
  digest: string;
  [key: string]: unknown;
}

/** The arguments of one export of `tree` (paths as the binary sees them). */
export function exportArgs(tree: string, out: string, compression: string, threads: string): string[] {
  return ["oci", "build", "--rootfs", tree, "--output", `oci:${out}:t`, "--compression", compression, ...(threads ? ["--threads", threads] : []), ...exportFlags];
}

export function parseExport(stdout: string): ExportResult {
  let result: ExportResult;
  try {
    result = JSON.parse(stdout) as ExportResult;
  } catch {
    throw new Error(`not the JSON of an export: ${stdout}`);
  }
  if (!/^sha256:[0-9a-f]{64}$/.test(String(result.digest))) throw new Error(`no digest in ${stdout}`);
  return result;
}

/**
 * A clean Debian system of `suite` (minbase, amd64) in a new directory under `parent`, extracted from
 * a cached mmdebstrap tarball; the tarball is made on first use (~15-60 s, deb.debian.org main only).
 */
export function debianChroot(suite: string, parent: string): string {
  mkdirSync(cacheDir, { recursive: true });
  const tarball = join(cacheDir, `${suite}-minbase-amd64.tar`);
  if (!existsSync(tarball)) {
    sh("mmdebstrap", ["--quiet", "--variant=minbase", suite, `${tarball}.tmp.tar`, `deb http://deb.debian.org/debian ${suite} main`], { timeout: 900_000 });
    renameSync(`${tarball}.tmp.tar`, tarball);
  }
  const root = join(parent, suite);
  mkdirSync(root, { recursive: true });
  sh("tar", ["-xf", tarball, "-C", root]);
  // Name resolution for apt inside the chroot.
  writeFileSync(join(root, "etc/resolv.conf"), readFileSync("/etc/resolv.conf"));
  return root;
}

/**
 * Runs a shell script inside a chroot with /proc and a tmpfs /tmp mounted (mmdebstrap's tarballs carry
 * the /dev nodes; the host's /dev is never bind-mounted, so removing the chroot cannot reach it).
 */
export function inChroot(root: string, script: string, timeout = 900_000): { code: number; stdout: string; stderr: string } {
  const wrapped = `set -e
mount -t proc proc "$ROOT/proc"
mount -t tmpfs tmpfs "$ROOT/tmp"
trap 'umount -l "$ROOT/tmp" "$ROOT/proc" 2>/dev/null || true' EXIT
set +e
chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp LANG=C.UTF-8 \\
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH} DEBIAN_FRONTEND=noninteractive /bin/sh -c "$SCRIPT"
`;
  const r = spawnSync("bash", ["-c", wrapped], { encoding: "utf8", env: { ...process.env, ROOT: root, SCRIPT: script }, timeout, maxBuffer: 64 << 20 });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}
