// The compose operations: base (mmdebstrap), commit (a tree the user built), install/remove (apt
// on top of a commit). Each checks everything it can before doing any work, builds in a temporary
// tree beside the repository, commits without a ref, and moves the ref only at the very end.
import { existsSync, lstatSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { run } from "../exec.ts";
import { ExitCode, UserError, notFound, usageError } from "../errors.ts";
import { onInterrupt } from "../cleanup.ts";
import { checkoutCopy, checkoutDirFor, commitTree, initRepo, readCommit, refTarget, repoModeOf, resolveRef, setRef, assertRepo } from "../ostree.ts";
import type { ProgressSink } from "../progress.ts";
import { prepareForApt, runInRoot } from "./chroot.ts";
import { buildMetadata, sourceDateEpoch, type MetadataValue } from "./metadata.ts";
import { bootstrapErrorLine, mmdebstrapArgs, progressStep } from "./mmdebstrap.ts";
import { installedPackages, nativeArchitecture, packageList, releaseOf } from "./packages.ts";
import { removeTree, runStreaming } from "./process.ts";
import { hostDebianArch } from "../arch.ts";
import { archiveSources, checkArchitecture, checkVariant, defaultMirror, findRelease, runsNatively } from "./releases.ts";
import { DPKG_DATABASE } from "./reshape-plan.ts";
import { reshapeTree, unreshapeTree } from "./reshape.ts";

export interface CommonOptions {
  repo: string;
  /** Of a repository made by this run (default bare). */
  repoMode?: "bare" | "archive";
  ref: string;
  force: boolean;
  version?: string;
  metadata: Record<string, MetadataValue>;
  progress: ProgressSink;
  warn: (line: string) => void;
}

export interface ComposeResult {
  checksum: string;
  ref: string;
  repo: string;
  parent?: string;
  metadata: Record<string, MetadataValue>;
}

export function requireRoot(uid: number | undefined = process.getuid?.()): void {
  if (uid !== 0) {
    throw new UserError("apt-ostree compose must run as root (mmdebstrap and chroot need it); run it with sudo", ExitCode.Failure);
  }
}

export function checkRefName(ref: string): void {
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(ref) || ref.includes("..")) throw usageError(`not a valid ref name: '${ref}'`);
}

async function refuseExistingRef(repo: string, ref: string, force: boolean): Promise<void> {
  checkRefName(ref);
  if (force) return;
  const target = await refTarget(repo, ref);
  if (target) {
    throw new UserError(`ref '${ref}' already exists in ${repo} (at ${target.slice(0, 12)}); use --force to move it`, ExitCode.Exists);
  }
}

/**
 * The repository a run that creates one when missing (base, commit) writes to, checked before any
 * work: an existing repository (whose mode a --repo-mode cannot change), or a path where one can
 * be made: not a file, not a directory of other things, below a directory.
 */
function checkRepoPath(o: CommonOptions): void {
  // ENOTDIR (below a file) as missing: the ancestor check below names the file.
  const quietly = <T,>(f: () => T) => {
    try {
      return f();
    } catch {
      return undefined;
    }
  };
  const stat = quietly(() => statSync(o.repo, { throwIfNoEntry: false }));
  if (stat?.isDirectory()) {
    if (existsSync(join(o.repo, "config")) && existsSync(join(o.repo, "objects"))) {
      const mode = repoModeOf(o.repo);
      const wanted = o.repoMode === "archive" ? /^archive/ : /^bare/;
      if (o.repoMode && mode && !wanted.test(mode)) o.warn(`${o.repo} is a ${mode} repository: --repo-mode ${o.repoMode} applies only to a new one`);
      return;
    }
    // A fresh file system's mount point holds lost+found: ostree init takes it as empty.
    if (readdirSync(o.repo).some((name) => name !== "lost+found")) throw usageError(`--repo ${o.repo} is a directory of other files, not an OSTree repository`);
    return;
  }
  if (stat || quietly(() => lstatSync(o.repo, { throwIfNoEntry: false }))) throw usageError(`--repo ${o.repo} is not a directory`);
  // The nearest existing ancestor must be a directory (mkdir -p makes the rest).
  let dir = dirname(resolve(o.repo));
  while (!existsSync(dir)) dir = dirname(dir);
  if (!statSync(dir).isDirectory()) throw usageError(`--repo ${o.repo}: ${dir} is not a directory`);
}

/** What every operation checks before any work: root, and a usable SOURCE_DATE_EPOCH. */
function preflight(): void {
  requireRoot();
  sourceDateEpoch();
}

/** Foreign architectures need qemu-user emulation registered with binfmt_misc. */
export async function checkEmulation(arch: string): Promise<void> {
  const qemu = checkArchitecture(arch);
  const host = hostDebianArch();
  if (runsNatively(host, arch)) return;
  if (existsSync(`/proc/sys/fs/binfmt_misc/qemu-${qemu}`)) return;
  const test = await run("arch-test", [arch]).catch(() => ({ code: 1 }));
  if (test.code === 0) return;
  throw new UserError(
    `cannot run ${arch} programs on this ${host} machine: install qemu-user emulation (apt-get install qemu-user-static binfmt-support)`,
    ExitCode.Failure,
  );
}

/** Where a build tree goes: inside the repository (same filesystem) or, before it exists, beside it. */
function buildDir(repo: string, what: string): string {
  const base = existsSync(join(repo, "config")) ? join(repo, "tmp") : dirname(resolve(repo));
  mkdirSync(base, { recursive: true });
  return join(base, `.apt-ostree-${what}-${process.pid}-${Date.now().toString(36)}`);
}

/**
 * `shownAs`: what a reshape error calls the build tree, whose path means nothing to the user (what
 * they gave, when the tree is a copy of it). Other errors keep the path: a failure to write the
 * copy is about the copy.
 */
async function withBuildTree<T>(dir: string, body: () => Promise<T>, shownAs?: string): Promise<T> {
  const dispose = onInterrupt(() => removeTree(dir));
  try {
    return await body();
  } catch (error) {
    const reshape = `cannot reshape ${dir}:`;
    if (shownAs && error instanceof UserError && error.message.startsWith(reshape)) {
      throw new UserError(`cannot reshape ${shownAs}:${error.message.slice(reshape.length)}`, error.exitCode, { cause: error });
    }
    throw error;
  } finally {
    removeTree(dir);
    dispose();
  }
}

function isNetworkError(line: string): boolean {
  return /Could not (connect|resolve)|Temporary failure resolving|Failed to fetch|Connection (refused|timed out)|Unable to connect|No route to host|does not have a Release file|Network is unreachable/i.test(line);
}

function toolError(what: string, stderr: string, code: number): UserError {
  const line = bootstrapErrorLine(stderr) ?? `exit code ${code}`;
  // A package the archive does not have is not found, as `compose remove` of one not installed.
  const missing = /Unable to locate package|has no installation candidate/.test(line);
  return new UserError(`${what} failed: ${line}`, isNetworkError(line) ? ExitCode.Network : missing ? ExitCode.NotFound : ExitCode.Failure);
}

/** The progress line: "compose: what is happening". */
function step(o: CommonOptions, detail: string): void {
  o.progress({ task: "compose", done: 0, total: 0, unit: "steps", detail });
}

/** Reshapes, commits (no ref) and finally moves the ref. */
async function finish(
  tree: string,
  o: CommonOptions,
  info: { release?: string; arch?: string; variant?: string; subject: string; parent?: string },
): Promise<ComposeResult> {
  step(o, "reshaping for OSTree");
  const shaped = reshapeTree(tree);
  for (const w of shaped.warnings) o.warn(w);
  const installed = await installedPackages(join(tree, DPKG_DATABASE));
  const arch = info.arch ?? nativeArchitecture(installed);
  const epoch = sourceDateEpoch();
  const metadata = buildMetadata({
    release: info.release ?? releaseOf(tree),
    arch,
    variant: info.variant,
    version: o.version,
    kernels: shaped.kernels,
    packages: packageList(installed, arch ?? ""),
    time: epoch ?? Math.floor(Date.now() / 1000),
    extra: o.metadata,
  });
  // The tree is ready: only now does the repository come into existence, if it has to.
  await initRepo(o.repo, o.repoMode ?? "bare");
  step(o, `committing to ${o.repo}`);
  const checksum = await commitTree(o.repo, tree, {
    subject: info.subject,
    parent: info.parent,
    timestamp: epoch,
    metadata,
    consume: true,
    bindRef: o.ref,
  });
  await setRef(o.repo, o.ref, checksum, o.force);
  return { checksum, ref: o.ref, repo: o.repo, parent: info.parent, metadata };
}

export interface BaseOptions extends CommonOptions {
  release: string;
  arch: string;
  variant: string;
  include: string[];
  mirror?: string;
  components?: string[];
  keyring?: string;
  /** The release's -updates and -security suites too (default true). */
  updates?: boolean;
  securityMirror?: string;
}

export async function composeBase(o: BaseOptions): Promise<ComposeResult> {
  const release = findRelease(o.release);
  checkArchitecture(o.arch);
  checkVariant(o.variant);
  preflight();
  checkRepoPath(o);
  if (o.keyring && !existsSync(o.keyring)) throw notFound(`keyring not found: ${o.keyring}`);
  const keyring = o.keyring ?? release.keyring;
  if (keyring && !existsSync(keyring)) {
    throw new UserError(`the ${release.name} archive keyring ${keyring} is missing (apt-get install ${release.keyringPackage})`, ExitCode.NotFound);
  }
  await refuseExistingRef(o.repo, o.ref, o.force);
  await checkEmulation(o.arch);
  if (o.securityMirror && (o.updates === false || !release.updates)) o.warn(`--security-mirror has no effect: ${release.updates ? "--no-updates" : `${release.name} has no -security suite`}`);
  const tree = buildDir(o.repo, "rootfs");
  return withBuildTree(tree, async () => {
    const components = o.components?.length ? o.components : release.components;
    const args = mmdebstrapArgs({
      release: release.name,
      arch: o.arch,
      variant: o.variant,
      include: o.include,
      sources: archiveSources({ release, mirror: o.mirror ?? defaultMirror(release, o.arch), components, updates: o.updates ?? true, securityMirror: o.securityMirror }),
      components,
      keyring,
      target: tree,
    });
    const result = await runStreaming("mmdebstrap", args, {
      onLine: (line) => {
        const s = progressStep(line);
        if (s) step(o, `mmdebstrap: ${s}`);
      },
    });
    if (result.code !== 0) {
      const error = toolError("mmdebstrap", result.stderr, result.code);
      // A mirror without the -updates or -security suite (a partial or local one).
      const suite = new RegExp(`\\b${release.name}-(updates|security)\\b`).test(error.message);
      throw suite ? new UserError(`${error.message} (--no-updates builds from ${release.name} alone; --security-mirror names another archive for -security)`, error.exitCode) : error;
    }
    return finish(tree, o, {
      release: release.name,
      arch: o.arch,
      variant: o.variant,
      subject: `apt-ostree compose base ${release.name} ${o.arch} ${o.variant}${o.include.length ? ` +${o.include.join(",")}` : ""}`,
    });
  }, `the bootstrapped ${release.name} tree`);
}

export interface CommitOptions extends CommonOptions {
  rootfs: string;
  release?: string;
  arch?: string;
  variant?: string;
}

export async function composeCommit(o: CommitOptions): Promise<ComposeResult> {
  if (o.release) findRelease(o.release);
  if (o.arch) checkArchitecture(o.arch);
  if (!existsSync(o.rootfs)) throw notFound(`no such directory or tarball: ${o.rootfs}`);
  preflight();
  checkRepoPath(o);
  await refuseExistingRef(o.repo, o.ref, o.force);
  const tree = buildDir(o.repo, "rootfs");
  return withBuildTree(tree, async () => {
    step(o, `copying ${o.rootfs}`);
    if (statSync(o.rootfs).isDirectory()) {
      // The user's tree stays as it is: we reshape a copy.
      const r = await run("cp", ["-a", "--reflink=auto", resolve(o.rootfs), tree]);
      if (r.code !== 0) throw new UserError(`cannot copy ${o.rootfs}: ${r.stderr.trim()}`);
    } else {
      mkdirSync(tree);
      const r = await run("tar", ["-x", "-p", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-f", resolve(o.rootfs), "-C", tree]);
      if (r.code !== 0) {
        // tar's last line is "Exiting with failure status due to previous errors": the cause is before it.
        const lines = r.stderr.trim().split("\n").filter((l) => l && !/Exiting with failure status|Error is not recoverable/.test(l));
        throw new UserError(`cannot unpack ${o.rootfs}: ${(lines[0] ?? "tar failed").replace(/^tar: /, "")}`);
      }
    }
    return finish(tree, o, {
      release: o.release,
      arch: o.arch,
      variant: o.variant,
      subject: `apt-ostree compose commit ${o.rootfs}`,
    });
  }, o.rootfs);
}

export interface AptOptions extends CommonOptions {
  action: "install" | "remove";
  packages: string[];
  from: string;
  noInstallRecommends?: boolean;
  purge?: boolean;
  /** remove: also the packages nothing needs any more (apt-get --autoremove). */
  autoremove?: boolean;
  /** A compose file's release and arch (written for base): warned about when the commit's differ. */
  fileRelease?: string;
  fileArch?: string;
}

export async function composeApt(o: AptOptions): Promise<ComposeResult> {
  if (o.packages.length === 0) throw usageError(`compose ${o.action}: name at least one package`);
  preflight();
  assertRepo(o.repo);
  const parent = await resolveRef(o.repo, o.from);
  await refuseExistingRef(o.repo, o.ref, o.force);
  const info = await readCommit(o.repo, parent);
  const str = (k: string) => (typeof info.metadata[k] === "string" ? (info.metadata[k] as string) : undefined);
  const arch = str("apt-ostree.architecture");
  if (arch) await checkEmulation(arch);
  // install and remove work on the commit as it is: its sources.list, its architecture.
  for (const [key, value, theirs] of [["release", o.fileRelease, str("apt-ostree.release")], ["arch", o.fileArch, arch]] as const) {
    if (value && theirs && value !== theirs) o.warn(`the compose file's ${key} ${value} is not ${o.from}'s (${theirs}): ${o.action} uses ${o.from}'s`);
  }
  const tree = checkoutDirFor(o.repo);
  return withBuildTree(tree, async () => {
    step(o, `checking out ${o.from}`);
    await checkoutCopy(o.repo, parent, tree);
    unreshapeTree(tree);
    if (o.action === "remove") {
      const installed = new Set((await installedPackages(join(tree, "var/lib/dpkg"))).map((p) => p.name));
      const missing = o.packages.filter((p) => !installed.has(p.replace(/:.*$/, "")));
      if (missing.length) throw notFound(`not installed in ${o.from}: ${missing.join(", ")}`);
    }
    if (!lstatSync(join(tree, "etc/apt"), { throwIfNoEntry: false })) throw new UserError(`${o.from} has no /etc/apt: is it a Debian system?`);
    const restore = prepareForApt(tree);
    const onLine = (line: string) => {
      const m = line.match(/^(Get:\d+|Unpacking|Setting up|Removing|Processing triggers for|Selecting previously unselected package) ?(.*)$/);
      if (m) step(o, `apt-get: ${m[1]} ${m[2]}`.slice(0, 70));
    };
    try {
      if (o.action === "install") {
        const update = await runInRoot(tree, ["apt-get", "update"], onLine);
        if (update.code !== 0 || /^(E|W): (Failed to fetch|Some index files failed)/m.test(update.stderr)) {
          throw toolError("apt-get update", update.stderr, update.code || 1);
        }
        const args = ["apt-get", "install", "-y", ...(o.noInstallRecommends ? ["--no-install-recommends"] : []), "--", ...o.packages];
        const result = await runInRoot(tree, args, onLine);
        if (result.code !== 0) throw toolError("apt-get install", result.stderr, result.code);
      } else {
        const args = ["apt-get", o.purge ? "purge" : "remove", "-y", ...(o.autoremove ? ["--autoremove"] : []), "--", ...o.packages];
        const result = await runInRoot(tree, args, onLine);
        if (result.code !== 0) throw toolError(`apt-get ${o.purge ? "purge" : "remove"}`, result.stderr, result.code);
      }
    } finally {
      restore();
    }
    return finish(tree, o, {
      release: str("apt-ostree.release"),
      arch,
      variant: str("apt-ostree.variant"),
      parent,
      subject: `apt-ostree compose ${o.action}${o.purge ? " --purge" : ""}${o.autoremove ? " --autoremove" : ""} ${o.packages.join(" ")}`,
    });
  }, `the checkout of ${o.from}`);
}
