// The OSTree side, through the real `ostree` CLI: resolve refs, read commit metadata, check out.
// Knows nothing of OCI.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { allSettledOrThrow } from "./cleanup.ts";
import { check, howItEnded, run } from "./exec.ts";
import { ExitCode, UserError, notFound } from "./errors.ts";
import type { TreeEntry } from "./fs.ts";

export interface CommitInfo {
  checksum: string;
  /** Seconds since the epoch (the commit's own timestamp). */
  timestamp: number;
  subject: string;
  /** Commit metadata, as far as it maps onto JSON (strings, booleans, numbers, string arrays). */
  metadata: Record<string, unknown>;
  /** The root directory's dirtree and dirmeta checksums (hex); undefined if they could not be read. */
  root?: { dirtree: string; dirmeta: string };
}

export function assertRepo(repo: string): void {
  if (!existsSync(join(repo, "config")) || !existsSync(join(repo, "objects"))) {
    throw notFound(`not an OSTree repository: ${repo}`);
  }
}

/** Resolves a ref or (partial) checksum to a full commit checksum. */
export async function resolveRef(repo: string, ref: string): Promise<string> {
  assertRepo(repo);
  const result = await run("ostree", ["rev-parse", `--repo=${repo}`, ref]);
  if (result.code !== 0) throw notFound(`no ref or commit '${ref}' in OSTree repository ${repo}`);
  const checksum = result.stdout.trim();
  // rev-parse gives a full checksum back as it is, whether the commit is there or not: `ls -d`
  // of its root reads the commit (one line of output, whatever the tree's size).
  if ((await commitEntry(repo, checksum)("/")) === undefined) {
    throw notFound(checksum === ref ? `no ref or commit '${ref}' in OSTree repository ${repo}` : `ref '${ref}' names commit ${checksum}, which is not in OSTree repository ${repo}`);
  }
  return checksum;
}

/** Reads a commit's timestamp and metadata. Metadata values come back via `--print-metadata-key`. */
export async function readCommit(repo: string, checksum: string): Promise<CommitInfo> {
  // `ostree show --raw` prints the commit GVariant; its fields are stable:
  // (metadata a{sv}, parent ay, related a(say), subject s, body s, timestamp t, root-contents ay, root-meta ay)
  // Two reads of the commit, at once (they write nothing).
  const [raw, log] = await Promise.all([check("ostree", ["show", `--repo=${repo}`, "--raw", checksum]), check("ostree", ["log", `--repo=${repo}`, checksum])]);
  const timestamp = parseTimestamp(raw);
  const metadata = parseMetadata(raw);
  const subject = log.split("\n").slice(4).find((l) => l.trim())?.trim() ?? "";
  return { checksum, timestamp, subject, metadata, root: parseRootChecksums(raw) };
}

/**
 * The last two fields of `ostree show --raw`, root-contents and root-meta: 32-byte arrays printed as
 * `[byte 0x.., ...]` at the very end of the tuple.
 */
export function parseRootChecksums(raw: string): { dirtree: string; dirmeta: string } | undefined {
  const bytes32 = String.raw`\[byte ((?:0x[0-9a-f]{2}, ){31}0x[0-9a-f]{2})\]`;
  const m = new RegExp(`${bytes32}, ${bytes32}\\)\\s*$`).exec(raw);
  const hex = (list: string) => list.replaceAll("0x", "").replaceAll(", ", "");
  return m ? { dirtree: hex(m[1]), dirmeta: hex(m[2]) } : undefined;
}

/** The commit timestamp in `ostree show --raw` is a big-endian uint64 printed as `uint64 N`. */
function parseTimestamp(raw: string): number {
  const m = raw.match(/uint64 (\d+)/);
  if (!m) throw new UserError("cannot read the commit timestamp from `ostree show --raw`");
  const n = BigInt(m[1]);
  // GVariant stores it big-endian; the text shows the host-order reading of those bytes.
  const swapped = swap64(n);
  // Whichever reading is a plausible time (1970..2200) is the real one.
  const plausible = (v: bigint) => v > 0n && v < 7258118400n;
  return Number(plausible(n) && !plausible(swapped) ? n : swapped);
}

function swap64(n: bigint): bigint {
  let out = 0n;
  for (let i = 0; i < 8; i++) {
    out = (out << 8n) | (n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/**
 * Parses the `{'key': <value>, ...}` dictionary at the start of `ostree show --raw` output for the
 * value kinds metadata uses: strings, booleans, numbers and arrays of strings.
 */
export function parseMetadata(raw: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const start = raw.indexOf("({");
  if (start < 0) return out;
  let i = start + 2;
  const text = raw;
  const skipWs = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const readString = (): string => {
    const quote = text[i];
    i++;
    let s = "";
    while (i < text.length && text[i] !== quote) {
      if (text[i] === "\\") {
        i++;
        const c = text[i];
        s += c === "n" ? "\n" : c === "t" ? "\t" : c;
      } else s += text[i];
      i++;
    }
    i++;
    return s;
  };
  const readValue = (): unknown => {
    skipWs();
    if (text[i] === "<") {
      i++;
      const v = readValue();
      skipWs();
      if (text[i] === ">") i++;
      return v;
    }
    if (text[i] === "'" || text[i] === '"') return readString();
    if (text[i] === "[") {
      i++;
      const items: unknown[] = [];
      for (;;) {
        skipWs();
        if (text[i] === "]") {
          i++;
          break;
        }
        items.push(readValue());
        skipWs();
        if (text[i] === ",") i++;
      }
      return items;
    }
    if (text[i] === "@") {
      // type annotation such as @as []
      while (i < text.length && !/\s/.test(text[i])) i++;
      return readValue();
    }
    const m = text.slice(i).match(/^(true|false|(?:u?int\d+|byte|double)\s+-?[\d.]+|-?[\d.]+)/);
    if (m) {
      i += m[0].length;
      if (m[0] === "true" || m[0] === "false") return m[0] === "true";
      return Number(m[0].split(/\s+/).pop());
    }
    // Unknown shape: skip to the next top-level comma or closing brace.
    let depth = 0;
    const from = i;
    while (i < text.length) {
      const c = text[i];
      if ("([{<".includes(c)) depth++;
      else if (")]}>".includes(c)) {
        if (depth === 0) break;
        depth--;
      } else if (c === "," && depth === 0) break;
      i++;
    }
    return text.slice(from, i).trim();
  };
  for (;;) {
    skipWs();
    if (text[i] === "}" || i >= text.length) break;
    const key = readString();
    skipWs();
    if (text[i] === ":") i++;
    out[key] = readValue();
    skipWs();
    if (text[i] === ",") i++;
  }
  return out;
}

/**
 * Checks out a commit into `dir` (which must not exist). In a bare repository on the same filesystem
 * ostree uses hardlinks to its objects, which is what makes this fast; `dir` should therefore live
 * inside the repository (see `checkoutDirFor`).
 */
export async function checkout(repo: string, checksum: string, dir: string): Promise<void> {
  const result = await run("ostree", ["checkout", `--repo=${repo}`, checksum, dir]);
  if (result.code !== 0) {
    throw new UserError(`ostree checkout of ${checksum.slice(0, 12)} failed: ${result.stderr.trim() || howItEnded(result)}`, ExitCode.Failure);
  }
}

/**
 * Whether the native core reads a commit's objects where they lie: `bare` (file objects are the
 * files), `bare-user` (metadata in an xattr), `bare-user-only` (the files, with no owner or xattrs)
 * and `archive` (compressed objects with a header) repositories, without a parent repository
 * (objects could be there instead). `bare-split-xattrs` is checked out.
 */
export function canReadInPlace(repo: string): boolean {
  const config = readFileSync(join(repo, "config"), "utf8");
  return ["bare", "bare-user", "bare-user-only", "archive", "archive-z2"].includes(modeIn(config) ?? "") && !/^\s*parent\s*=/m.test(config);
}

/** The `mode=` of a repository's config text. */
function modeIn(config: string): string | undefined {
  return /^\s*mode\s*=\s*(\S+)\s*$/m.exec(config)?.[1];
}

/**
 * What planning an export needs of a commit that is read straight from the repository, in `dir`
 * (which must not exist): the top-level entries (links as links, directories empty), `usr/etc`, and
 * the directories `subpaths` (checked out, with hardlinks where the filesystem allows). Nothing is
 * created outside `dir`: the checkouts' parents are made as directories in `dir` before any link.
 */
export async function checkoutPlanningSkeleton(repo: string, checksum: string, dir: string, subpaths: string[]): Promise<void> {
  mkdirSync(dir);
  // Only the contents are read: not root, keep our own ownership (a bare repository's files are
  // owned by their real owners, which a user cannot give).
  const userMode = process.getuid?.() === 0 ? [] : ["--user-mode"];
  for (const sub of subpaths) mkdirSync(dirname(join(dir, sub)), { recursive: true });
  // The listings and the checkouts at once (one round of ostree processes instead of two: 40-50 ms
  // of a commit's export). `usr/etc`'s listing is used only if `usr` is a directory.
  const [top, usrEtc] = await allSettledOrThrow([
    check("ostree", ["ls", `--repo=${repo}`, checksum, "/"]),
    run("ostree", ["ls", `--repo=${repo}`, "-d", checksum, "/usr/etc"]),
    allSettledOrThrow(subpaths.map((sub) => run("ostree", ["checkout", `--repo=${repo}`, ...userMode, "--allow-noent", `--subpath=/${sub}`, checksum, join(dir, sub)]))),
  ]);
  const dirs: string[] = [];
  const links: [string, string][] = [];
  for (const line of top.split("\n")) {
    // "d00755 0 0      0 /usr", "l00777 0 0      0 /bin -> usr/bin"
    const m = /^([dl-])\d+\s+\d+\s+\d+\s+\d+\s+\/(.+)$/.exec(line.trim());
    if (!m || m[2].includes("/") && m[1] !== "l") continue;
    if (m[1] === "d") dirs.push(m[2]);
    else if (m[1] === "l") {
      const [name, target] = m[2].split(" -> ");
      if (name && target !== undefined && !name.includes("/")) links.push([name, target]);
    }
  }
  // A subpath below a missing top-level directory, or below a link (ostree: "Not a directory"), is
  // simply not there: what its checkout made goes.
  for (const sub of subpaths) {
    const first = sub.split("/")[0]!;
    if (!dirs.includes(first)) rmSync(join(dir, first), { recursive: true, force: true });
  }
  for (const name of dirs) mkdirSync(join(dir, name), { recursive: true });
  for (const [name, target] of links) symlinkSync(target, join(dir, name));
  if (dirs.includes("usr") && usrEtc.stdout.startsWith("d")) mkdirSync(join(dir, "usr/etc"), { recursive: true });
}

/**
 * Where a commit read in place gets its planning skeleton: the repository's `tmp/` (hardlinks), or,
 * when that is not writable (a read-only repository), the system's temporary directory (copies of
 * the dpkg database: a few MB).
 */
export function planningDirFor(repo: string): string {
  try {
    const dir = checkoutDirFor(repo);
    accessSync(dirname(dir), constants.W_OK);
    return dir;
  } catch {
    return join(tmpdir(), `apt-ostree-plan-${process.pid}-${Date.now().toString(36)}`);
  }
}

/** A fresh checkout directory on the repository's filesystem (its `tmp/`), so hardlinks work. */
export function checkoutDirFor(repo: string): string {
  const tmp = join(repo, "tmp");
  mkdirSync(tmp, { recursive: true });
  return join(tmp, `apt-ostree-checkout-${process.pid}-${Date.now().toString(36)}`);
}

// ---- Writing (compose): create repositories, commit trees, move refs. ----

/** Creates the repository when it is missing (`mode`: bare or archive); checks it otherwise. */
export async function initRepo(repo: string, mode: "bare" | "archive" = "bare"): Promise<boolean> {
  if (existsSync(join(repo, "config")) && existsSync(join(repo, "objects"))) return false;
  mkdirSync(repo, { recursive: true });
  await check("ostree", ["init", `--repo=${repo}`, `--mode=${mode}`]);
  return true;
}

/** The commit a ref points at, or undefined when the ref does not exist (refs only, no checksums). */
export async function refTarget(repo: string, ref: string): Promise<string | undefined> {
  if (!existsSync(join(repo, "config"))) return undefined;
  const result = await run("ostree", ["refs", `--repo=${repo}`, "--list"]);
  if (result.code !== 0) return undefined;
  if (!result.stdout.split("\n").map((l) => l.trim()).includes(ref)) return undefined;
  return (await check("ostree", ["rev-parse", `--repo=${repo}`, ref])).trim();
}

export async function listRefs(repo: string): Promise<string[]> {
  assertRepo(repo);
  return (await check("ostree", ["refs", `--repo=${repo}`, "--list"])).split("\n").map((l) => l.trim()).filter(Boolean).sort();
}

/** Escapes a string for GVariant text format (single quotes). */
export function gvariantString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;
}

/** GVariant text for the metadata value kinds compose writes. */
export function gvariantText(value: string | boolean | string[]): string {
  if (typeof value === "string") return gvariantString(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  return value.length ? `[${value.map(gvariantString).join(", ")}]` : "@as []";
}

export interface CommitTreeOptions {
  subject?: string;
  parent?: string;
  /** Seconds since the epoch. */
  timestamp?: number;
  /** No numbers: ostree's --add-metadata stores them byte-swapped (ostree 2022.7 reads `int64 1` back as 72057594037927936). */
  metadata?: Record<string, string | boolean | string[]>;
  /** Delete the tree's content as it is committed (it is a temporary build tree). */
  consume?: boolean;
  /**
   * The ref the commit is meant for, recorded in `ostree.ref-binding` as `commit -b` does. Without
   * it an orphan commit says it is bound to no ref, and `ostree pull` of it by ref fails.
   */
  bindRef?: string;
}

/**
 * Commits a directory without touching any ref (`--orphan`): refs move separately (setRef), only
 * once everything worked. Returns the checksum.
 */
export async function commitTree(repo: string, dir: string, options: CommitTreeOptions = {}): Promise<string> {
  const args = ["commit", `--repo=${repo}`, "--orphan", `--tree=dir=${dir}`];
  args.push(`--subject=${options.subject ?? "apt-ostree commit"}`);
  if (options.parent) args.push(`--parent=${options.parent}`);
  if (options.timestamp !== undefined) args.push(`--timestamp=@${options.timestamp}`);
  if (options.consume) args.push("--consume");
  if (options.bindRef) args.push(`--bind-ref=${options.bindRef}`);
  for (const [key, value] of Object.entries(options.metadata ?? {})) {
    if (typeof value === "string") args.push(`--add-metadata-string=${key}=${value}`);
    else args.push(`--add-metadata=${key}=${gvariantText(value)}`);
  }
  const result = await run("ostree", args);
  if (result.code !== 0) {
    throw new UserError(`ostree commit failed: ${result.stderr.trim().split("\n").pop() || howItEnded(result)}`, ExitCode.Failure);
  }
  return result.stdout.trim();
}

/** Points `ref` at `checksum` (creating or, with force, moving it). */
export async function setRef(repo: string, ref: string, checksum: string, force = false): Promise<void> {
  const args = ["refs", `--repo=${repo}`, `--create=${ref}`, checksum];
  if (force) args.splice(2, 0, "--force");
  const result = await run("ostree", args);
  if (result.code !== 0) {
    // Checked before the work began: another run made the ref meanwhile.
    if (/already exists/.test(result.stderr)) throw new UserError(`ref '${ref}' was made in ${repo} by another run meanwhile; use --force to move it`, ExitCode.Exists);
    throw new UserError(`cannot set ref ${ref}: ${result.stderr.trim() || howItEnded(result)}`, ExitCode.Failure);
  }
}

/** The mode in a repository's config (bare, bare-user, archive-z2...), or undefined. */
export function repoModeOf(repo: string): string | undefined {
  try {
    return modeIn(readFileSync(join(repo, "config"), "utf8"));
  } catch {
    return undefined;
  }
}

/** Whether a commit has an entry at `path` (not following a symlink on the way: /sbin is one with merged /usr). */
export async function commitHasPath(repo: string, checksum: string, path: string): Promise<boolean> {
  return (await run("ostree", ["ls", `--repo=${repo}`, checksum, path])).code === 0;
}

/** `entry` for `resolvesToFileInTree` of a commit: one `ostree ls -d` of the path. */
export function commitEntry(repo: string, checksum: string): (path: string) => Promise<TreeEntry | undefined> {
  return async (path) => {
    const listed = await run("ostree", ["ls", `--repo=${repo}`, "-d", checksum, path]);
    if (listed.code !== 0) return undefined;
    // `l00777 0 0      0 /sbin/init -> ../lib/systemd/systemd`, `d00755 0 0      0 /usr`
    const line = listed.stdout.split("\n")[0] ?? "";
    if (line.startsWith("l")) return { type: "link", target: line.split(" -> ").slice(1).join(" -> ") };
    return { type: line.startsWith("d") ? "dir" : "other" };
  };
}

/** Whether a commit has /usr/lib/modules/$kver/vmlinuz for some kernel version. */
export async function commitHasKernel(repo: string, checksum: string): Promise<boolean> {
  const listed = await run("ostree", ["ls", `--repo=${repo}`, checksum, "/usr/lib/modules"]);
  if (listed.code !== 0) return false;
  const versions = listed.stdout.split("\n").filter((l) => l.startsWith("d")).map((l) => l.split(" ").pop()!).filter((p) => p !== "/usr/lib/modules");
  for (const dir of versions) if (await commitHasPath(repo, checksum, `${dir}/vmlinuz`)) return true;
  return false;
}

/** Checks out a commit as a writable copy (no hardlinks into the repository's objects). */
export async function checkoutCopy(repo: string, checksum: string, dir: string): Promise<void> {
  const result = await run("ostree", ["checkout", `--repo=${repo}`, "--force-copy", checksum, dir]);
  if (result.code !== 0) {
    throw new UserError(`ostree checkout of ${checksum.slice(0, 12)} failed: ${result.stderr.trim() || howItEnded(result)}`, ExitCode.Failure);
  }
}
