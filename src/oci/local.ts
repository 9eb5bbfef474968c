// Images on the local disk: OCI image layouts, oci-archives (a tar of a layout) and docker-archives
// (`docker save` format). Writing always goes through a temporary OCI layout beside the output that
// becomes the requested format only when everything succeeded; reading gives blobs by byte range so
// they can be streamed without copies.
import { createHash, randomBytes } from "node:crypto";
import {
  accessSync, closeSync, constants, createReadStream, createWriteStream, existsSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync,
  writeFileSync, fsyncSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { readFile } from "node:fs/promises";
import { ExitCode, UserError } from "../errors.ts";
import { removeOnInterrupt } from "../cleanup.ts";
import { digestHex, sha256, sha256OfFile } from "./digest.ts";
import { buildIndex, toBlob, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest } from "./image.ts";
import { MediaType, isIndexMediaType, isManifestMediaType, sniffCompression } from "./mediatypes.ts";
import { indexTar, readMember, readRange, writeTar, type TarMember, type TarSource } from "./tar.ts";

export type LocalFormat = "oci" | "oci-archive" | "docker-archive";

export interface LocalTarget {
  format: LocalFormat;
  path: string;
  /** oci/oci-archive: the ref name in index.json; docker-archive: NAME:TAG for RepoTags. */
  tag?: string;
  /**
   * Named `oci:PATH[:TAG]`: written into an existing layout at PATH, the image is added to it (an
   * image with the same tag is replaced), as skopeo's oci: transport does. A plain PATH is one image.
   */
  addToLayout?: boolean;
}

const REF_NAME = "org.opencontainers.image.ref.name";

const FORMAT_ALIASES: Record<string, LocalFormat> = { oci: "oci", "oci-archive": "oci-archive", docker: "docker-archive", "docker-archive": "docker-archive" };

export function parseFormat(text: string): LocalFormat {
  const format = FORMAT_ALIASES[text];
  if (!format) throw new UserError(`unknown format '${text}': expected oci, oci-archive or docker`, ExitCode.Usage);
  return format;
}

/**
 * `oci:PATH[:TAG]`, `oci-archive:PATH[:TAG]`, `docker-archive:PATH[:NAME[:TAG]]`, or a plain PATH whose
 * format comes from `defaultFormat` (or, when reading, from what is on disk).
 */
const LOCAL_PREFIX = /^(oci|oci-archive|docker-archive):/;
const LOCAL_TRANSPORT = new RegExp(`${LOCAL_PREFIX.source}(.*)$`);

/** Whether `text` names a local image (oci:, oci-archive:, docker-archive:) rather than a registry's. */
export function isLocalImageName(text: string): boolean {
  return LOCAL_PREFIX.test(text);
}

export function parseLocalTarget(text: string, defaultFormat?: LocalFormat): LocalTarget {
  const target = parseLocalTargetText(text, defaultFormat);
  // "-" reads as stdin/stdout to users of tar and docker save; an image needs a real file here.
  if (target.path === "-") throw new UserError(`'${text}': images are not read from stdin or written to stdout here; name a file (./- for one called -)`, ExitCode.Usage);
  return target;
}

function parseLocalTargetText(text: string, defaultFormat?: LocalFormat): LocalTarget {
  // Not a path named "docker:" below the working directory.
  if (/^docker:\/\//.test(text)) {
    throw new UserError(`${text} is a registry image; this takes a local one (PATH, oci:, oci-archive: or docker-archive:): use oci push, pull or copy for registries`, ExitCode.Usage);
  }
  const m = text.match(LOCAL_TRANSPORT);
  if (!m) {
    if (!text) throw new UserError("an output path is required", ExitCode.Usage);
    return { format: defaultFormat ?? "oci", path: text };
  }
  const format = m[1] as LocalFormat;
  const rest = m[2];
  if (!rest) throw new UserError(`'${text}' names no path`, ExitCode.Usage);
  if (format === "docker-archive") {
    const i = rest.indexOf(":");
    if (i < 0) return { format, path: rest };
    return { format, path: rest.slice(0, i), tag: rest.slice(i + 1) || undefined };
  }
  const addToLayout = format === "oci" ? { addToLayout: true } : {};
  // The tag follows the last colon, unless that part looks like a path.
  const i = rest.lastIndexOf(":");
  if (i > 0 && !rest.slice(i + 1).includes("/")) return { format, path: rest.slice(0, i), tag: rest.slice(i + 1) || undefined, ...addToLayout };
  return { format, path: rest, ...addToLayout };
}

/** Guesses the format of an existing path: a directory is a layout; a tar with manifest.json is a docker-archive. */
export function detectFormat(path: string): LocalFormat {
  if (!existsSync(path)) throw new UserError(`no such image: ${path}`, ExitCode.NotFound);
  if (statSync(path).isDirectory()) return "oci";
  const members = indexTar(path);
  if (members.has("oci-layout")) return "oci-archive";
  if (members.has("manifest.json")) return "docker-archive";
  throw new UserError(`${path} is neither an OCI layout, an oci-archive nor a docker-archive`);
}

/** Docker's reference grammar: optional registry host[:port]/, lowercase path components, `:TAG`. */
const DOCKER_REPO_TAG = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * A docker-archive tag: `NAME:TAG`; a bare word is a tag (`1.0`) and gets the default name, a path
 * (`library/demo`) is a name and gets `latest`.
 * What `docker load` could not take (`Bad:1`, a space) is a usage error.
 */
export function dockerRepoTag(tag: string | undefined, check = true): string | undefined {
  if (!tag) return undefined;
  const lastSlash = tag.lastIndexOf("/");
  const colon = tag.lastIndexOf(":");
  const repoTag =
    colon > lastSlash ? (colon === 0 ? `apt-ostree${tag}` : tag) : tag.includes("/") ? `${tag}:latest` : `apt-ostree:${tag}`;
  if (check && !DOCKER_REPO_TAG.test(repoTag)) {
    throw new UserError(`invalid docker-archive reference '${repoTag}': expected NAME:TAG, NAME in lowercase (a-z, 0-9, . _ -, / between parts)`, ExitCode.Usage);
  }
  return repoTag;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** An OCI image layout being written in a directory. */
export class LayoutWriter {
  private counter = 0;
  constructor(readonly dir: string) {}

  init(): this {
    mkdirSync(join(this.dir, "blobs", "sha256"), { recursive: true });
    writeFileSync(join(this.dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    return this;
  }

  blobPath(digest: string): string {
    return join(this.dir, "blobs", "sha256", digestHex(digest));
  }

  /** A fresh path inside the layout for a blob whose digest is not known yet. */
  tempBlobPath(): string {
    return join(this.dir, "blobs", "sha256", `.partial-${process.pid}-${++this.counter}`);
  }

  /** Moves a finished temporary blob to its content address. */
  commitBlob(tempPath: string, digest: string): void {
    const final = this.blobPath(digest);
    if (existsSync(final)) rmSync(tempPath, { force: true });
    else renameSync(tempPath, final);
  }

  putBlob(bytes: Uint8Array, digest = sha256(bytes)): void {
    const final = this.blobPath(digest);
    if (!existsSync(final)) writeFileSync(final, bytes);
  }

  writeIndex(manifests: Descriptor[]): void {
    writeFileSync(join(this.dir, "index.json"), buildIndex(manifests).bytes);
  }
}

/** Whether `path` is an OCI image layout directory (oci-layout and index.json). */
function isLayout(path: string): boolean {
  return existsSync(join(path, "oci-layout")) && existsSync(join(path, "index.json")) && statSync(path).isDirectory();
}

/** Whether writing `target` adds to the OCI layout already there (oci:PATH[:TAG], no --force). */
export function addsToLayout(target: LocalTarget, force: boolean): boolean {
  return target.format === "oci" && target.addToLayout === true && !force && isLayout(target.path);
}

/** checkOutputPath for a target: an existing layout that the image is added to is no obstacle if its index is readable. */
export function checkOutputTarget(target: LocalTarget, force: boolean, keep: string[] = []): void {
  // Before any work (a pull's download, an export), not when the archive is written.
  if (target.format === "docker-archive") dockerRepoTag(target.tag);
  if (addsToLayout(target, force)) readLayoutIndex(target.path);
  else checkOutputPath(target.path, force, keep);
}

function withRefName(descriptor: Descriptor, tag: string | undefined): Descriptor {
  return tag ? { ...descriptor, annotations: { ...(descriptor.annotations ?? {}), [REF_NAME]: tag } } : descriptor;
}

function readLayoutIndex(dir: string): ImageIndex {
  return parseLayoutIndex(readFileSync(join(dir, "index.json"), "utf8"), dir);
}

/** A layout's (or oci-archive's) index.json; one clear line if it is not one. */
function parseLayoutIndex(text: string, where: string): ImageIndex {
  try {
    const index = JSON.parse(text) as ImageIndex;
    if (!Array.isArray(index.manifests)) throw new Error("no manifests");
    return index;
  } catch (error) {
    throw new UserError(`${where} is not a valid OCI image layout (index.json: ${(error as Error).message})`);
  }
}

/** Digests of every blob `roots` reach in a layout (manifests, indexes, configs, layers); missing blobs end the walk. */
function reachableBlobs(dir: string, roots: Descriptor[]): Set<string> {
  const seen = new Set<string>();
  const visit = (d: Descriptor): void => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    if (!isIndexMediaType(d.mediaType) && !isManifestMediaType(d.mediaType)) return;
    let doc: { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    try {
      doc = JSON.parse(readFileSync(join(dir, "blobs", "sha256", digestHex(d.digest)), "utf8"));
    } catch {
      return;
    }
    for (const child of [...(doc.manifests ?? []), ...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) visit(child);
  };
  roots.forEach(visit);
  return seen;
}

/** Whether process `pid` exists (EPERM: it does, as another user's). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs `fn` holding `dir`'s lock file, so that two writers of one layout neither lose each other's
 * index entries nor delete blobs the other has just referenced. The lock is a file created
 * exclusively, holding the owner's pid; a lock whose process is gone is taken over. Waits up to
 * APT_OSTREE_LOCK_TIMEOUT seconds (default 300). Synchronous, like its callers.
 */
function withLayoutLock<T>(dir: string, fn: () => T): T {
  const lock = join(dir, ".apt-ostree.lock");
  const timeoutText = process.env.APT_OSTREE_LOCK_TIMEOUT || "300";
  if (!/^\d+$/.test(timeoutText)) throw new UserError(`APT_OSTREE_LOCK_TIMEOUT must be a whole number of seconds, got '${timeoutText}'`, ExitCode.Usage);
  const timeout = Number(timeoutText) * 1000;
  const deadline = Date.now() + (Number.isFinite(timeout) ? timeout : 300_000);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let ours: number | undefined;
  for (let wait = 5; ; wait = Math.min(wait * 2, 250)) {
    if (takeLock(lock)) {
      ours = statSync(lock).ino;
      break;
    }
    let holder = NaN;
    let seen: { ino: number; mtimeMs: number };
    try {
      seen = statSync(lock);
      holder = Number.parseInt(readFileSync(lock, "utf8"), 10);
    } catch {
      continue; // released meanwhile
    }
    // Gone owner; or no pid at all (a crash of an older version mid-write), left for a while.
    const valid = Number.isInteger(holder) && holder > 0;
    if ((valid && !processAlive(holder)) || (!valid && Date.now() - seen.mtimeMs > 10_000)) {
      breakStaleLock(lock, seen.ino);
      continue;
    }
    if (Date.now() > deadline) throw new UserError(`${dir} is locked by process ${Number.isNaN(holder) ? "?" : holder} (${lock}); remove the file if that process is not writing to it`);
    Atomics.wait(pause, 0, 0, wait);
  }
  try {
    return fn();
  } finally {
    // Only our own: a lock someone broke and took meanwhile stays theirs.
    if (statSync(lock, { throwIfNoEntry: false })?.ino === ours) rmSync(lock, { force: true });
  }
}

/**
 * Removes the lock file `ino` judged stale, and no other: two writers that both saw the same dead
 * owner must not remove each other's fresh lock. The lock is moved aside first, and put back if it
 * turns out to be a newer one.
 */
function breakStaleLock(lock: string, ino: number): void {
  const aside = `${lock}.stale-${process.pid}-${randomBytes(6).toString("hex")}`;
  try {
    renameSync(lock, aside);
  } catch {
    return; // gone meanwhile
  }
  if (statSync(aside).ino !== ino) {
    try {
      linkSync(aside, lock);
    } catch {
      // Taken by a third writer meanwhile: theirs stands.
    }
  }
  rmSync(aside, { force: true });
}

/**
 * Creates `lock` holding this process's pid; false when it exists. The pid is written under a
 * private name first and linked into place (link fails if the lock exists), so no reader sees an
 * empty lock of a live writer; where the file system has no hard links (vfat), it is created
 * exclusively and then written.
 */
function takeLock(lock: string): boolean {
  const mine = `${lock}.${process.pid}-${randomBytes(6).toString("hex")}`;
  writeFileSync(mine, String(process.pid), { flag: "wx" });
  try {
    linkSync(mine, lock);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw error;
  } finally {
    rmSync(mine, { force: true });
  }
  try {
    writeFileSync(lock, String(process.pid), { flag: "wx" });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/**
 * Adds the image `root` of the finished temporary layout to the existing layout at `target.path`,
 * holding the layout's lock: its new blobs are moved in, then index.json is replaced in one rename
 * (an entry with the same tag gives way), then blobs that only the replaced entry used are deleted.
 * Synchronous: a signal cannot land in the middle.
 */
function addToLayout(layout: LayoutWriter, root: Descriptor, target: LocalTarget): void {
  withLayoutLock(target.path, () => addToLayoutLocked(layout, root, target));
}

function addToLayoutLocked(layout: LayoutWriter, root: Descriptor, target: LocalTarget): void {
  const index = readLayoutIndex(target.path);
  const added = withRefName(root, target.tag);
  // Without a tag, an untagged entry of the same image is not repeated.
  const replaced = index.manifests.filter((m) =>
    target.tag ? m.annotations?.[REF_NAME] === target.tag : m.digest === root.digest && !m.annotations?.[REF_NAME]);
  const kept = index.manifests.filter((m) => !replaced.includes(m));
  const into = new LayoutWriter(target.path);
  mkdirSync(join(target.path, "blobs", "sha256"), { recursive: true });
  const moved: string[] = [];
  const indexTemp = join(target.path, `.index.json.tmp-${process.pid}`);
  try {
    for (const name of readdirSync(join(layout.dir, "blobs", "sha256"))) {
      if (name.startsWith(".")) continue;
      const dest = into.blobPath(`sha256:${name}`);
      if (existsSync(dest)) continue;
      renameSync(join(layout.dir, "blobs", "sha256", name), dest);
      moved.push(dest);
    }
    writeFileSync(indexTemp, JSON.stringify({ ...index, manifests: [...kept, added] }));
    renameSync(indexTemp, join(target.path, "index.json"));
  } catch (error) {
    for (const path of [...moved, indexTemp]) rmSync(path, { force: true });
    throw error;
  }
  const live = reachableBlobs(target.path, [...kept, added]);
  for (const digest of reachableBlobs(target.path, replaced)) {
    if (!live.has(digest)) rmSync(into.blobPath(digest), { force: true });
  }
}

/**
 * Where to put a temporary sibling of `path` (same filesystem, so the final rename is atomic).
 * fs.ts' outputPathFor reads the name back for messages.
 */
export function temporarySibling(path: string, what: string): string {
  const abs = resolve(path);
  return join(dirname(abs), `.${basename(abs)}.${what}-${process.pid}-${Date.now().toString(36)}`);
}

/**
 * Temporaries of `path` (temporarySibling's names) whose process is gone: what a run killed with
 * SIGKILL (the OOM killer, a CI timeout) could not remove. Only named, never removed: on a shared
 * filesystem the process may be another machine's.
 */
export function leftoverTemporaries(path: string): string[] {
  const abs = resolve(path);
  const prefix = `.${basename(abs)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(abs));
  } catch {
    return [];
  }
  return names
    .filter((name) => {
      if (!name.startsWith(prefix)) return false;
      const m = /^(?:layout|tmp|old)-(\d+)-[0-9a-z]+$/.exec(name.slice(prefix.length));
      return m !== null && Number(m[1]) !== process.pid && !processExists(Number(m[1]));
    })
    .sort()
    .map((name) => join(dirname(abs), name));
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user's.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Refuses an existing output unless `force`; checks the parent directory exists. */
export function checkOutputPath(path: string, force: boolean, keep: string[] = []): void {
  const parent = dirname(resolve(path));
  if (!existsSync(parent)) throw new UserError(`output directory ${parent} does not exist`, ExitCode.NotFound);
  if (!statSync(parent).isDirectory()) throw new UserError(`output directory ${parent} is not a directory`, ExitCode.Usage);
  // Before any work: the temporary output goes next to the output.
  try {
    accessSync(parent, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(`cannot write to output directory ${parent}: ${code === "EROFS" ? "read-only file system" : "permission denied"}`);
  }
  // Replacing the output deletes what is there: never the source tree or repository, nor a directory holding them.
  if (existsSync(path)) {
    const output = realpathSync(path);
    const prefix = output.endsWith("/") ? output : `${output}/`;
    for (const source of keep.filter((k) => existsSync(k))) {
      const real = realpathSync(source);
      if (real === output || real.startsWith(prefix)) {
        throw new UserError(`output ${path} ${real === output ? "is" : "holds"} the source ${source}: replacing it would delete the source; choose another output`, ExitCode.Usage);
      }
    }
  }
  const existing = lstatSync(path, { throwIfNoEntry: false });
  if (!existing) return;
  // An existing output is refused unless --force, even an empty directory (skopeo would write
  // into one). --force replaces an image (a layout, an archive), not whatever a typo names: that
  // is said at once, with or without --force.
  if (existing.isDirectory() && !existsSync(join(path, "oci-layout")) && readdirSync(path).length > 0) {
    throw new UserError(`${path} is a directory that is not an OCI image layout: choose another output (--force replaces images only; remove it yourself if it should go)`, ExitCode.Exists);
  }
  if (existing.isFile() && existing.size > 0 && !isImageArchive(path)) {
    throw new UserError(`${path} is a file that is not an image archive: choose another output (--force replaces images only; remove it yourself if it should go)`, ExitCode.Exists);
  }
  if (!force) throw outputExists(path);
}

function outputExists(path: string): UserError {
  return new UserError(`${path} already exists (use --force to replace it${existsSync(join(path, "oci-layout")) ? ", or oci:PATH:TAG to add an image to the layout" : ""})`, ExitCode.Exists);
}

/** An oci-archive or a docker-archive (what detectFormat recognises in a file). */
function isImageArchive(path: string): boolean {
  try {
    return detectFormat(path) !== "oci";
  } catch {
    return false;
  }
}

/**
 * Puts `temp` (file or directory) at `path`. Without `force`, nothing that appeared there since the
 * check (another run writing the same output) is replaced: a file is hard-linked into place, which
 * fails if the name exists, and a directory's rename fails onto anything but an empty directory.
 * With `force`, replaces `path` in as few steps as the filesystem allows.
 */
function moveIntoPlace(temp: string, path: string, force: boolean): void {
  if (!force) {
    try {
      if (statSync(temp).isDirectory()) {
        renameSync(temp, path);
      } else {
        linkSync(temp, path);
        rmSync(temp, { force: true });
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST" || code === "ENOTEMPTY" || code === "ENOTDIR") throw outputExists(path);
      // No hard links on this filesystem (vfat): a rename, guarded by a check just before.
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
      if (existsSync(path)) throw outputExists(path);
      renameSync(temp, path);
    }
    return;
  }
  if (existsSync(path)) {
    const trash = temporarySibling(path, "old");
    renameSync(path, trash);
    renameSync(temp, path);
    rmSync(trash, { recursive: true, force: true });
  } else {
    renameSync(temp, path);
  }
}

/** Lists a layout's files for an oci-archive, in a fixed order. */
function layoutEntries(layoutDir: string): TarSource[] {
  const entries: TarSource[] = [
    { name: "oci-layout", type: "file", path: join(layoutDir, "oci-layout"), size: statSync(join(layoutDir, "oci-layout")).size },
    { name: "index.json", type: "file", path: join(layoutDir, "index.json"), size: statSync(join(layoutDir, "index.json")).size },
    { name: "blobs", type: "dir" },
    { name: "blobs/sha256", type: "dir" },
  ];
  for (const name of readdirSync(join(layoutDir, "blobs", "sha256")).sort()) {
    if (name.startsWith(".")) continue;
    const path = join(layoutDir, "blobs", "sha256", name);
    entries.push({ name: `blobs/sha256/${name}`, type: "file", path, size: statSync(path).size });
  }
  return entries;
}

async function writeTarFile(path: string, entries: TarSource[], mtime: number): Promise<void> {
  const fd = openSync(path, "wx", 0o644);
  try {
    await writeTar(fd, entries, mtime);
    fsyncSync(fd);
  } catch (error) {
    // Writes to a descriptor carry no path: name the archive (a full disk is likeliest here, where
    // the layout and the archive are both on disk).
    const e = error as NodeJS.ErrnoException;
    if (e && typeof e === "object" && e.code && !e.path) e.path = path;
    throw error;
  } finally {
    closeSync(fd);
  }
}

/**
 * A docker-archive (`docker save` format: manifest.json, <config>.json, <layer>.tar) of the single
 * image `manifest` in a layout. Layers are stored uncompressed, as `docker save` does; a compressed
 * layer is refused here (build writes uncompressed layers for this format).
 */
async function writeDockerArchive(layout: LayoutWriter, manifest: ImageManifest, repoTag: string | undefined, path: string, mtime: number): Promise<void> {
  const configHex = digestHex(manifest.config.digest);
  const entries: TarSource[] = [];
  const layerNames: string[] = [];
  for (const layer of manifest.layers) {
    const blob = layout.blobPath(layer.digest);
    if (sniffCompression(readRange(blob, 0, 4)) !== "none") {
      throw new UserError("docker-archive output needs uncompressed layers (use --compression none, the default for this format)");
    }
    const name = `${digestHex(layer.digest)}.tar`;
    if (!layerNames.includes(name)) entries.push({ name, type: "file", path: blob, size: layer.size });
    layerNames.push(name);
  }
  const config = readFileSync(layout.blobPath(manifest.config.digest));
  const dockerManifest = [{ Config: `${configHex}.json`, RepoTags: repoTag ? [repoTag] : [], Layers: layerNames }];
  entries.unshift({ name: `${configHex}.json`, type: "file", bytes: config });
  entries.push({ name: "manifest.json", type: "file", bytes: new TextEncoder().encode(JSON.stringify(dockerManifest)) });
  await writeTarFile(path, entries, mtime);
}

export interface FinishOptions {
  target: LocalTarget;
  force: boolean;
  /** mtime for archive members (SOURCE_DATE_EPOCH or 0), so archives are reproducible. */
  mtime: number;
}

/**
 * Turns a finished layout in `layoutDir` (with `root`, a manifest or index, already stored) into the
 * target: renames the directory, or writes an archive next to the target and renames it.
 */
export async function finishLayout(layout: LayoutWriter, root: Descriptor, options: FinishOptions): Promise<void> {
  const { target } = options;
  if (addsToLayout(target, options.force)) return addToLayout(layout, root, target);
  checkOutputPath(target.path, options.force);
  if (target.format === "oci") {
    layout.writeIndex([withRefName(root, target.tag)]);
    moveIntoPlace(layout.dir, target.path, options.force);
    return;
  }
  const temp = temporarySibling(target.path, "tmp");
  const dispose = removeOnInterrupt(temp);
  try {
    if (target.format === "oci-archive") {
      layout.writeIndex([withRefName(root, target.tag)]);
      await writeTarFile(temp, layoutEntries(layout.dir), options.mtime);
    } else {
      if (isIndexMediaType(root.mediaType)) throw new UserError("a docker-archive holds one platform's image; pick one with --arch");
      const manifest = JSON.parse(readFileSync(layout.blobPath(root.digest), "utf8")) as ImageManifest;
      await writeDockerArchive(layout, manifest, dockerRepoTag(target.tag), temp, options.mtime);
    }
    moveIntoPlace(temp, target.path, options.force);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  } finally {
    dispose();
  }
}

/** Writes images into a temporary layout beside the target; nothing appears at the target until finish(). */
export interface ImageSink {
  readonly layout: LayoutWriter;
  tempBlobPath(): string;
  commitBlob(tempPath: string, descriptor: Descriptor): Promise<void>;
  putBlob(bytes: Uint8Array, descriptor: Descriptor): Promise<void>;
  hasBlob(digest: string): boolean;
  /** A blob written, or one the existing layout it adds to has. */
  readBlob(digest: string): Promise<Uint8Array>;
  finish(root: Descriptor, bytes: Uint8Array): Promise<void>;
  abort(): void;
}

export function createLocalImageSink(target: LocalTarget, options: { force: boolean; mtime?: number; keep?: string[]; warn?: (message: string) => void }): ImageSink {
  checkOutputTarget(target, options.force, options.keep);
  for (const path of leftoverTemporaries(target.path)) {
    options.warn?.(`${path} is left from an interrupted run (its process is gone): remove it to free the space`);
  }
  // Blobs the existing layout already has need not be fetched again.
  const existing = addsToLayout(target, options.force) ? new LayoutWriter(target.path) : undefined;
  const dir = temporarySibling(target.path, "layout");
  const dispose = removeOnInterrupt(dir);
  const layout = new LayoutWriter(dir).init();
  const abort = () => {
    rmSync(dir, { recursive: true, force: true });
    dispose();
  };
  return {
    layout,
    tempBlobPath: () => layout.tempBlobPath(),
    async commitBlob(tempPath, descriptor) {
      layout.commitBlob(tempPath, descriptor.digest);
    },
    async putBlob(bytes, descriptor) {
      layout.putBlob(bytes, descriptor.digest);
    },
    hasBlob: (digest) => existsSync(layout.blobPath(digest)) || (existing !== undefined && existsSync(existing.blobPath(digest))),
    readBlob: (digest) => readFile(existing && !existsSync(layout.blobPath(digest)) ? existing.blobPath(digest) : layout.blobPath(digest)),
    async finish(root, bytes) {
      try {
        layout.putBlob(bytes, root.digest);
        await finishLayout(layout, root, { target, force: options.force, mtime: options.mtime ?? 0 });
      } finally {
        abort();
      }
    },
    abort,
  };
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface BlobLocation {
  path: string;
  offset: number;
  size: number;
}

export interface LocalImage {
  /** Its path, for messages. */
  readonly name: string;
  /** The manifest or index the target names, with its exact bytes. */
  root: { descriptor: Descriptor; bytes: Uint8Array };
  readBlob(digest: string): Promise<Uint8Array>;
  /** Where a blob's bytes are: a file and a byte range, to stream without copying. */
  locateBlob(digest: string): BlobLocation;
  close(): Promise<void>;
}

/** `transport`: how to name one of its images (oci, oci-archive), for the hint. */
function pickFromIndex(index: ImageIndex, tag: string | undefined, where: string, transport: "oci" | "oci-archive"): Descriptor {
  const manifests = index.manifests ?? [];
  if (tag) {
    const found = manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
    if (!found) throw new UserError(`no image tagged '${tag}' in ${where}`, ExitCode.NotFound);
    return found;
  }
  if (manifests.length === 1) return manifests[0];
  if (manifests.length === 0) throw new UserError(`${where} holds no image`, ExitCode.NotFound);
  const names = manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]).filter(Boolean);
  throw new UserError(`${where} holds ${manifests.length} images${names.length ? ` (${names.join(", ")})` : ""}; name one: ${transport}:${where}:TAG`, ExitCode.Usage);
}

function makeLocalImage(name: string, root: Descriptor, locate: (digest: string) => BlobLocation): LocalImage {
  const read = (digest: string): Uint8Array => {
    const at = locate(digest);
    return readRange(at.path, at.offset, at.size);
  };
  const bytes = read(root.digest);
  if (sha256(bytes) !== root.digest) throw new UserError(`the manifest ${root.digest} does not match its digest`);
  return {
    name,
    root: { descriptor: root, bytes },
    readBlob: async (digest) => read(digest),
    locateBlob: locate,
    close: async () => {},
  };
}

/**
 * Copies a blob of `image` to `file`, checking its size and digest on the way; `progress` gets the
 * bytes copied so far.
 */
export async function copyBlobOut(image: LocalImage, desc: { digest: string; size: number }, file: string, progress?: (done: number, total: number) => void): Promise<void> {
  const at = image.locateBlob(desc.digest);
  const hash = createHash("sha256");
  let done = 0;
  const out = createWriteStream(file);
  if (at.size > 0) {
    await pipeline(
      createReadStream(at.path, { start: at.offset, end: at.offset + at.size - 1, highWaterMark: 1 << 20 }),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          done += chunk.length;
          progress?.(done, desc.size);
          yield chunk;
        }
      },
      out,
    );
  } else {
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
  const digest = `sha256:${hash.digest("hex")}`;
  if (done !== desc.size || digest !== desc.digest) throw new UserError(`blob ${desc.digest} in ${image.name} does not match its size or digest`);
}

/** A manifest or index of `image` other than its root, checked against its digest. */
export async function readManifestBlob(image: LocalImage, digest: string): Promise<Uint8Array> {
  const bytes = await image.readBlob(digest);
  if (sha256(bytes) !== digest) throw new UserError(`the manifest ${digest} in ${image.name} does not match its digest`);
  return bytes;
}

export async function openLocalImage(target: LocalTarget): Promise<LocalImage> {
  if (!existsSync(target.path)) throw new UserError(`no such image: ${target.path}`, ExitCode.NotFound);
  const format = statSync(target.path).isDirectory() ? "oci" : target.format === "oci" ? detectFormat(target.path) : target.format;
  if (format === "oci") {
    if (!statSync(target.path).isDirectory()) throw new UserError(`${target.path} is not an OCI layout directory`);
    const indexPath = join(target.path, "index.json");
    if (!existsSync(indexPath)) throw new UserError(`${target.path} is not an OCI image layout (no index.json)`);
    const index = readLayoutIndex(target.path);
    const root = pickFromIndex(index, target.tag, target.path, "oci");
    return makeLocalImage(target.path, root, (digest) => {
      const path = join(target.path, "blobs", "sha256", digestHex(digest));
      if (!existsSync(path)) throw new UserError(`blob ${digest} is missing from ${target.path}`, ExitCode.NotFound);
      return { path, offset: 0, size: statSync(path).size };
    });
  }
  const members = indexTar(target.path);
  const member = (name: string): TarMember => {
    const m = members.get(name);
    if (!m) throw new UserError(`${target.path} has no ${name}`, ExitCode.NotFound);
    return m;
  };
  if (format === "oci-archive") {
    const index = parseLayoutIndex(Buffer.from(readMember(target.path, member("index.json"))).toString("utf8"), target.path);
    const root = pickFromIndex(index, target.tag, target.path, "oci-archive");
    return makeLocalImage(target.path, root, (digest) => {
      const m = member(`blobs/sha256/${digestHex(digest)}`);
      return { path: target.path, offset: m.offset, size: m.size };
    });
  }
  return openDockerArchive(target, members);
}

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** A docker-archive read as an OCI image: its config and layer files become blobs of a synthesised manifest. */
async function openDockerArchive(target: LocalTarget, members: Map<string, TarMember>): Promise<LocalImage> {
  const path = target.path;
  const get = (name: string): TarMember => {
    const m = members.get(name.replace(/^\.\//, ""));
    if (!m) throw new UserError(`${path} has no ${name}`, ExitCode.NotFound);
    // Docker writes layers as symlinks to shared copies in some versions.
    return m.type === "2" || m.type === "1" ? get(join(dirname(name), m.linkname).replace(/^\.\//, "")) : m;
  };
  const entries = JSON.parse(Buffer.from(readMember(path, get("manifest.json"))).toString("utf8")) as DockerManifestEntry[];
  let entry = entries[0];
  if (target.tag) {
    // Reading: whatever name the archive has (no grammar check: that is for what we write).
    const wanted = dockerRepoTag(target.tag, false);
    entry = entries.find((e) => (e.RepoTags ?? []).some((t) => t === wanted || t === target.tag))!;
    if (!entry) throw new UserError(`no image tagged '${target.tag}' in ${path}`, ExitCode.NotFound);
  } else if (entries.length !== 1) {
    throw new UserError(`${path} holds ${entries.length} images; name one with :NAME:TAG`, ExitCode.Usage);
  }
  const byDigest = new Map<string, BlobLocation>();
  const configMember = get(entry.Config);
  const configBytes = readMember(path, configMember);
  const configDigest = sha256(configBytes);
  byDigest.set(configDigest, { path, offset: configMember.offset, size: configMember.size });
  const config = JSON.parse(Buffer.from(configBytes).toString("utf8")) as ImageConfig;
  const layers: Descriptor[] = [];
  for (const name of entry.Layers) {
    const m = get(name);
    const { digest } = await sha256OfFile(path, { offset: m.offset, size: m.size });
    const compression = sniffCompression(readRange(path, m.offset, 4));
    const mediaType = compression === "gzip" ? MediaType.ociLayerGzip : compression === "zstd" ? MediaType.ociLayerZstd : MediaType.ociLayer;
    byDigest.set(digest, { path, offset: m.offset, size: m.size });
    layers.push({ mediaType, digest, size: m.size });
  }
  if (config.rootfs?.diff_ids && config.rootfs.diff_ids.length !== layers.length) {
    throw new UserError(`${path}: the config lists ${config.rootfs.diff_ids.length} layers but the manifest ${layers.length}`);
  }
  const manifest = toBlob<ImageManifest>(
    { schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: configDigest, size: configBytes.length }, layers },
    MediaType.ociManifest,
  );
  return {
    name: path,
    root: { descriptor: manifest.descriptor, bytes: manifest.bytes },
    readBlob: async (digest) => {
      if (digest === manifest.descriptor.digest) return manifest.bytes;
      const at = byDigest.get(digest);
      if (!at) throw new UserError(`blob ${digest} is not in ${path}`, ExitCode.NotFound);
      return readRange(path, at.offset, at.size);
    },
    locateBlob: (digest) => {
      const at = byDigest.get(digest);
      if (!at) throw new UserError(`blob ${digest} is not in ${path}`, ExitCode.NotFound);
      return at;
    },
    close: async () => {},
  };
}
