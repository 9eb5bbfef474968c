// Whole images: push a local image (OCI layout, oci-archive, docker-archive) to a repository, pull
// one into a local sink, copy between repositories. Blobs in parallel (--jobs), config and manifest
// last, an index after its children.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import type { Transform } from "node:stream";
import { hostDebianArch, ociArchOf } from "../arch.ts";
import { describePlatform, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest } from "../oci/image.ts";
import { copyBlobOut, readManifestBlob, type ImageSink, type LocalImage } from "../oci/local.ts";
import { MediaType, isIndexMediaType } from "../oci/mediatypes.ts";
import type { ProgressSink } from "../progress.ts";
import { RegistryError } from "./errors.ts";
import { short, type BlobDescriptor, type BlobProgress, type RepositoryClient } from "./client.ts";

export interface TransferStats {
  blobsUploaded: number;
  blobsSkipped: number;
  blobsMounted: number;
  bytesSent: number;
}

export interface PushResult {
  digest: string;
  mediaType: string;
  size: number;
  stats: TransferStats;
  /** The registry had this image under the reference already: nothing was sent. */
  unchanged: boolean;
}

/** Runs `fn` over items with at most `jobs` in flight; the first failure stops new work and is thrown. */
export async function pool<T>(items: T[], jobs: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        if (failed === undefined) failed = error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
  if (failed !== undefined) throw failed;
}

const decoder = new TextDecoder();

export function parseJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch {
    throw new RegistryError(`${what} is not valid JSON`, { kind: "protocol" });
  }
}

export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The media type a manifest declares, else what its descriptor says. */
export function mediaTypeOf(bytes: Uint8Array, fallback: string | undefined): string {
  const parsed = parseJson<{ mediaType?: string; manifests?: unknown }>(bytes, "manifest");
  return parsed.mediaType ?? fallback ?? (parsed.manifests ? MediaType.ociIndex : MediaType.ociManifest);
}

/**
 * One progress line for a transfer of many blobs (`push 120.5 MiB / 394.0 MiB 30% (3/9 blobs)`):
 * the bytes of every blob expected so far, done or not, rather than a figure per blob in flight.
 * A blob the other side already has counts as done. Undefined when nothing is shown.
 */
export interface TransferProgress {
  /** Blobs about to be transferred (a manifest's layers and config): their sizes join the total at once. */
  expect(descs: { digest: string; size: number }[]): void;
  /** The progress callback of one blob's transfer. */
  blob(desc: { digest: string; size: number }): BlobProgress;
}

export function transferProgress(progress: ProgressSink | undefined, verb: string): TransferProgress | undefined {
  if (!progress || ("active" in progress && !progress.active)) return undefined;
  const blobs = new Map<string, { size: number; done: number }>();
  let total = 0;
  let done = 0;
  let finished = 0;
  const expect = (desc: { digest: string; size: number }) => {
    if (blobs.has(desc.digest)) return;
    blobs.set(desc.digest, { size: desc.size, done: 0 });
    total += desc.size;
  };
  return {
    expect: (descs) => descs.forEach(expect),
    blob(desc) {
      expect(desc);
      const blob = blobs.get(desc.digest)!;
      return (now: number) => {
        const { size, done: before } = blob;
        // A retried upload starts again from 0.
        blob.done = Math.min(now, size);
        done += blob.done - before;
        if (blob.done >= size && before < size) finished++;
        else if (blob.done < size && before >= size) finished--;
        progress({ task: verb, done, total, unit: "bytes", detail: `${finished}/${blobs.size} blobs` });
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Push

export interface PushOptions {
  /** Tag (or digest) to put the root under. */
  reference: string;
  /** Push only this platform's image (of an index; a single image must be of it); default: all. */
  platform?: PlatformChoice;
  jobs: number;
  progress?: ProgressSink;
}

/** SHA-256 of a byte range of a file, as "sha256:<hex>". */
async function hashRange(at: { path: string; offset: number; size: number }): Promise<string> {
  const hash = createHash("sha256");
  if (at.size > 0) await pipeline(createReadStream(at.path, { start: at.offset, end: at.offset + at.size - 1 }), hash);
  return `sha256:${hash.digest("hex")}`;
}

export async function pushImage(image: LocalImage, repo: RepositoryClient, options: PushOptions): Promise<PushResult> {
  const stats: TransferStats = { blobsUploaded: 0, blobsSkipped: 0, blobsMounted: 0, bytesSent: 0 };
  const imageRoot = { bytes: image.root.bytes, mediaType: mediaTypeOf(image.root.bytes, image.root.descriptor.mediaType), digest: digestOf(image.root.bytes) };
  const root = options.platform ? await platformManifest(localImageReader(image), imageRoot, options.platform) : imageRoot;
  const rootBytes = root.bytes;
  const rootDigest = root.digest;
  const rootType = root.mediaType;
  if (options.reference.startsWith("sha256:") && options.reference !== rootDigest) {
    throw new RegistryError(`the destination names digest ${options.reference} but the image's manifest is ${rootDigest}`, { kind: "protocol" });
  }
  // Already there under this reference: nothing to do (only a HEAD).
  const existing = await repo.hasManifest(options.reference);
  if (existing?.digest === rootDigest) return { digest: rootDigest, mediaType: rootType, size: rootBytes.length, stats, unchanged: true };
  const shown = transferProgress(options.progress, "push");
  const blobsDone = new Map<string, Promise<void>>();
  const pushBlob = (desc: Descriptor): Promise<void> => {
    let p = blobsDone.get(desc.digest);
    if (!p) {
      p = (async () => {
        const at = image.locateBlob(desc.digest);
        if (at.size !== desc.size) throw new RegistryError(`blob ${desc.digest} is ${at.size} bytes in the image, the manifest says ${desc.size}`, { kind: "digest" });
        const outcome = await repo.pushBlob(desc, { kind: "file", ...at }, shown?.blob(desc)).catch(async (error) => {
          // The registry hashed what we sent: when our own copy does not match its name, say so
          // (the image is damaged) rather than blame the registry.
          if (error instanceof RegistryError && error.hasCode("DIGEST_INVALID")) {
            const actual = await hashRange(at).catch(() => undefined);
            if (actual && actual !== desc.digest) throw new RegistryError(`blob ${desc.digest} of ${image.name} is damaged: its content hashes to ${actual}`, { kind: "digest" });
          }
          throw error;
        });
        if (outcome === "exists") stats.blobsSkipped++;
        else (stats.blobsUploaded++, (stats.bytesSent += desc.size));
      })();
      blobsDone.set(desc.digest, p);
    }
    return p;
  };
  const pushManifestTree = async (bytes: Uint8Array, mediaType: string, reference: string): Promise<void> => {
    if (isIndexMediaType(mediaType)) {
      const index = parseJson<ImageIndex>(bytes, "index");
      for (const child of index.manifests) {
        const childBytes = await image.readBlob(child.digest);
        if (digestOf(childBytes) !== child.digest) throw new RegistryError(`manifest ${child.digest} in the image does not match its digest`, { kind: "digest" });
        await pushManifestTree(childBytes, mediaTypeOf(childBytes, child.mediaType), child.digest);
      }
    } else {
      const manifest = parseJson<ImageManifest>(bytes, "manifest");
      const digest = digestOf(bytes);
      if (reference !== digest || !(await repo.hasManifest(digest))) {
        shown?.expect([...manifest.layers, manifest.config]);
        await pool(manifest.layers, options.jobs, pushBlob);
        await pushBlob(manifest.config);
      }
    }
    if (reference === digestOf(bytes) && (await repo.hasManifest(reference))) return;
    await repo.putManifest(reference, bytes, mediaType);
  };
  await pushManifestTree(rootBytes, rootType, options.reference);
  return { digest: rootDigest, mediaType: rootType, size: rootBytes.length, stats, unchanged: false };
}

// ---------------------------------------------------------------------------------------------
// Pull

export interface PlatformChoice {
  os: string;
  architecture: string;
  variant?: string;
}

/**
 * The architecture (and variant) to pull for a Debian, uname (x86_64, aarch64) or OCI name. Only
 * arm keeps its variant (v5 and v7 are different machines); selectPlatform takes arm64 with or
 * without v8.
 */
export function platformChoiceFor(arch: string): Omit<PlatformChoice, "os"> {
  const oci = ociArchOf(arch);
  return oci.architecture === "arm" ? oci : { architecture: oci.architecture };
}

export function hostPlatform(): PlatformChoice {
  return { os: "linux", ...platformChoiceFor(hostDebianArch()) };
}

/** Picks the platform's entry of an index (variant optional; arm64 accepts v8 or none). */
export function selectPlatform(index: ImageIndex, want: PlatformChoice): Descriptor | undefined {
  const candidates = index.manifests.filter((m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture);
  if (want.variant) return candidates.find((m) => m.platform?.variant === want.variant) ?? (want.architecture === "arm64" && want.variant === "v8" ? candidates.find((m) => !m.platform?.variant) : undefined);
  return candidates.find((m) => !m.platform?.variant || (want.architecture === "arm64" && m.platform.variant === "v8")) ?? candidates[0];
}

/** Whether an image's own platform (its config's) is the one asked for, as selectPlatform takes variants. */
export function platformMatches(p: Partial<Pick<ImageConfig, "os" | "architecture" | "variant">>, want: PlatformChoice): boolean {
  if (p.os !== want.os || p.architecture !== want.architecture) return false;
  return !want.variant || p.variant === want.variant || (want.architecture === "arm64" && want.variant === "v8" && !p.variant);
}

/** A platform the image does not have: one line naming the platforms it has. */
export function missingPlatform(want: PlatformChoice, offered: { index: ImageIndex } | { config: Partial<Pick<ImageConfig, "os" | "architecture" | "variant">> }, hint = ""): RegistryError {
  const has = "index" in offered
    ? `the index offers ${offered.index.manifests.map((m) => describePlatform(m.platform)).join(", ") || "nothing"}`
    : `the image is ${describePlatform({ os: offered.config.os ?? "unknown", architecture: offered.config.architecture ?? "unknown", variant: offered.config.variant })} only`;
  return new RegistryError(`no image for ${describePlatform(want)} (${has})${hint}`, { kind: "not-found" });
}

/** What inspect and platform checks read: manifests and small blobs (configs), of a registry or a local image. */
export interface ImageReader {
  getManifest(reference: string): Promise<{ bytes: Uint8Array; mediaType: string; digest: string }>;
  getBlobBytes(desc: BlobDescriptor): Promise<Uint8Array>;
}

/** A single manifest's config, refused when it is not for `want`. */
async function checkManifestPlatform(reader: ImageReader, manifestBytes: Uint8Array, want: PlatformChoice): Promise<void> {
  const manifest = parseJson<ImageManifest>(manifestBytes, "manifest");
  if (!manifest.config) return; // no config to tell (an artifact): pulled as it is
  const config = parseJson<ImageConfig>(await reader.getBlobBytes(manifest.config), "config");
  if (!platformMatches(config, want)) throw missingPlatform(want, { config });
}

/**
 * The manifest of one platform: an index's entry for it (refused when there is none), or the root
 * itself when it is a single manifest for that platform (refused when its config says another).
 */
export async function platformManifest(reader: ImageReader, root: { bytes: Uint8Array; mediaType: string; digest: string }, want: PlatformChoice, hint = ""): Promise<{ bytes: Uint8Array; mediaType: string; digest: string; platform?: Descriptor["platform"] }> {
  if (!isIndexMediaType(root.mediaType)) {
    await checkManifestPlatform(reader, root.bytes, want);
    return root;
  }
  const index = parseJson<ImageIndex>(root.bytes, "index");
  const chosen = selectPlatform(index, want);
  if (!chosen) throw missingPlatform(want, { index }, hint);
  const m = await reader.getManifest(chosen.digest);
  if (isIndexMediaType(m.mediaType)) throw new RegistryError("nested indexes are not supported", { kind: "protocol" });
  return { ...m, platform: chosen.platform };
}

export { describePlatform };

export interface PullOptions {
  reference: string;
  /** The target keeps layers uncompressed (docker-archive): gzip layers are expanded and checked against the config's diff_ids. */
  uncompressedLayers?: boolean;
  platform: PlatformChoice;
  /** The user named the platform (--arch...): a single image of another platform is refused too. */
  platformNamed?: boolean;
  all: boolean;
  jobs: number;
  progress?: ProgressSink;
}

export interface PullResult {
  digest: string;
  mediaType: string;
  /** The digest of the registry's manifest or index the reference names. */
  sourceDigest: string;
  platforms: string[];
  bytes: number;
}

/** What a pull reads: a registry's repository, or a local image (copy between local images). */
export interface ImageSource extends ImageReader {
  /** Writes the blob to `file`; throws if its size or digest differ. */
  downloadBlob(desc: BlobDescriptor, file: string, progress?: BlobProgress): Promise<void>;
}

/** A local image (layout, oci-archive, docker-archive) read the way inspect and pull read a registry. */
export function localImageReader(image: LocalImage): ImageSource {
  const root = image.root.descriptor;
  return {
    async getManifest(reference) {
      if (reference === root.digest) return { bytes: image.root.bytes, mediaType: root.mediaType, digest: root.digest };
      const bytes = await readManifestBlob(image, reference);
      return { bytes, mediaType: mediaTypeOf(bytes, undefined), digest: reference };
    },
    getBlobBytes: (desc) => image.readBlob(desc.digest),
    downloadBlob: (desc, file, progress) => copyBlobOut(image, desc, file, progress),
  };
}

export async function pullImage(repo: ImageSource, sink: ImageSink, options: PullOptions): Promise<PullResult> {
  let received = 0;
  const root = await repo.getManifest(options.reference);
  const platforms: string[] = [];
  const shown = transferProgress(options.progress, "pull");
  const fetched = new Map<string, Promise<void>>();
  const pullBlob = (desc: Descriptor): Promise<void> => {
    let p = fetched.get(desc.digest);
    if (!p) {
      p = (async () => {
        const progress = shown?.blob(desc);
        if (sink.hasBlob(desc.digest)) return progress?.(desc.size, desc.size);
        const temp = sink.tempBlobPath();
        try {
          await repo.downloadBlob(desc, temp, progress);
        } catch (error) {
          // Wrong bytes (a corrupting proxy, a flaky mirror): one more try from scratch.
          if (!(error instanceof RegistryError && error.kind === "digest")) throw error;
          await repo.downloadBlob(desc, temp, progress);
        }
        await sink.commitBlob(temp, desc);
        received += desc.size;
      })();
      fetched.set(desc.digest, p);
    }
    return p;
  };
  const pullManifest = async (bytes: Uint8Array): Promise<ImageManifest> => {
    const manifest = parseJson<ImageManifest>(bytes, "manifest");
    if (!manifest.config || !Array.isArray(manifest.layers)) throw new RegistryError("the registry's manifest has no config or layers (unsupported artifact or schema 1)", { kind: "protocol" });
    shown?.expect([...manifest.layers, manifest.config]);
    await pool(manifest.layers, options.jobs, pullBlob);
    await pullBlob(manifest.config);
    return manifest;
  };
  /** For targets that keep layers uncompressed: a manifest whose layers are the expanded tars. */
  const expandLayers = async (bytes: Uint8Array): Promise<{ bytes: Uint8Array; digest: string }> => {
    const manifest = parseJson<ImageManifest>(bytes, "manifest");
    const config = parseJson<ImageConfig>(await readFile(sink.layout.blobPath(manifest.config.digest)), "config");
    const diffIds = config.rootfs?.diff_ids ?? [];
    const layers: Descriptor[] = [];
    await Promise.all(manifest.layers.map(async (layer, i) => {
      const compression = /gzip/.test(layer.mediaType) ? "gzip" : /zstd/.test(layer.mediaType) ? "zstd" : undefined;
      if (!compression) {
        layers[i] = layer;
        return;
      }
      const temp = sink.tempBlobPath();
      const { digest, size } = await expandFile(sink.layout.blobPath(layer.digest), temp, compression);
      if (diffIds[i] && diffIds[i] !== digest) throw new RegistryError(`layer ${layer.digest} expands to ${digest}, the config says ${diffIds[i]}`, { kind: "digest" });
      const desc: Descriptor = { mediaType: MediaType.ociLayer, digest, size };
      await sink.commitBlob(temp, desc);
      layers[i] = desc;
    }));
    const out = new TextEncoder().encode(JSON.stringify({ ...manifest, mediaType: MediaType.ociManifest, layers }));
    return { bytes: out, digest: digestOf(out) };
  };
  if (isIndexMediaType(root.mediaType)) {
    const index = parseJson<ImageIndex>(root.bytes, "index");
    if (options.all) {
      for (const child of index.manifests) {
        const m = await repo.getManifest(child.digest);
        if (isIndexMediaType(m.mediaType)) throw new RegistryError("nested indexes are not supported", { kind: "protocol" });
        await pullManifest(m.bytes);
        await sink.putBlob(m.bytes, child);
        platforms.push(describePlatform(child.platform));
      }
      const desc: Descriptor = { mediaType: root.mediaType, digest: root.digest, size: root.bytes.length };
      await sink.finish(desc, root.bytes);
      return { digest: root.digest, mediaType: root.mediaType, sourceDigest: root.digest, platforms, bytes: received };
    }
    const m = await platformManifest(repo, root, options.platform, "; use --arch/--os or --all");
    await pullManifest(m.bytes);
    const stored = options.uncompressedLayers ? await expandLayers(m.bytes) : { bytes: m.bytes, digest: m.digest };
    const desc: Descriptor = { mediaType: options.uncompressedLayers ? MediaType.ociManifest : m.mediaType, digest: stored.digest, size: stored.bytes.length, ...(m.platform ? { platform: m.platform } : {}) };
    await sink.finish(desc, stored.bytes);
    return { digest: m.digest, mediaType: m.mediaType, sourceDigest: root.digest, platforms: [describePlatform(m.platform)], bytes: received };
  }
  if (options.platformNamed) await checkManifestPlatform(repo, root.bytes, options.platform);
  const manifest = await pullManifest(root.bytes);
  // One image: its platform is its config's (what --json's platforms says, as for an index).
  const config = parseJson<ImageConfig>(await sink.readBlob(manifest.config.digest), "config");
  if (config.os && config.architecture) platforms.push(describePlatform({ os: config.os, architecture: config.architecture, variant: config.variant }));
  const stored = options.uncompressedLayers ? await expandLayers(root.bytes) : { bytes: root.bytes, digest: root.digest };
  const desc: Descriptor = { mediaType: options.uncompressedLayers ? MediaType.ociManifest : root.mediaType, digest: stored.digest, size: stored.bytes.length };
  await sink.finish(desc, stored.bytes);
  return { digest: root.digest, mediaType: root.mediaType, sourceDigest: root.digest, platforms, bytes: received };
}

// ---------------------------------------------------------------------------------------------
// Copy

export interface CopyOptions {
  sourceReference: string;
  destReference: string;
  /** Both repositories on one registry: mount blobs instead of copying bytes. */
  sameRegistry: boolean;
  /** Copy only this platform's image (of an index; a single image must be of it); default: all. */
  platform?: PlatformChoice;
  jobs: number;
  progress?: ProgressSink;
}

export async function copyImage(src: RepositoryClient, dst: RepositoryClient, options: CopyOptions): Promise<PushResult> {
  const stats: TransferStats = { blobsUploaded: 0, blobsSkipped: 0, blobsMounted: 0, bytesSent: 0 };
  const sourceRoot = await src.getManifest(options.sourceReference);
  const root = options.platform ? await platformManifest(src, sourceRoot, options.platform) : sourceRoot;
  const existing = await dst.hasManifest(options.destReference);
  if (existing?.digest === root.digest) return { digest: root.digest, mediaType: root.mediaType, size: root.bytes.length, stats, unchanged: true };
  const shown = transferProgress(options.progress, "copy");
  const done = new Map<string, Promise<void>>();
  const copyBlob = (desc: Descriptor): Promise<void> => {
    let p = done.get(desc.digest);
    if (!p) {
      p = (async () => {
        const progress = shown?.blob(desc);
        if (await dst.hasBlob(desc.digest)) {
          progress?.(desc.size, desc.size);
          stats.blobsSkipped++;
          return;
        }
        if (options.sameRegistry && src.repository !== dst.repository) {
          if (await dst.mountBlob(desc.digest, src.repository).catch(() => false)) {
            progress?.(desc.size, desc.size);
            stats.blobsMounted++;
            return;
          }
        }
        await dst.pushBlob(desc, {
          kind: "stream",
          open: async () => {
            const { response } = await src.openBlob(desc.digest);
            if (!response.body) throw new RegistryError(`empty body for blob ${desc.digest}`, { kind: "network", retryable: true });
            return response.body;
          },
        }, progress, { skipHead: true });
        stats.blobsUploaded++;
        stats.bytesSent += desc.size;
      })();
      done.set(desc.digest, p);
    }
    return p;
  };
  const copyTree = async (bytes: Uint8Array, mediaType: string, reference: string): Promise<void> => {
    if (isIndexMediaType(mediaType)) {
      const index = parseJson<ImageIndex>(bytes, "index");
      for (const child of index.manifests) {
        const m = await src.getManifest(child.digest);
        await copyTree(m.bytes, m.mediaType, child.digest);
      }
    } else {
      const manifest = parseJson<ImageManifest>(bytes, "manifest");
      shown?.expect([...manifest.layers, manifest.config]);
      await pool(manifest.layers, options.jobs, copyBlob);
      await copyBlob(manifest.config);
    }
    await dst.putManifest(reference, bytes, mediaType);
  };
  await copyTree(root.bytes, root.mediaType, options.destReference);
  return { digest: root.digest, mediaType: root.mediaType, size: root.bytes.length, stats, unchanged: false };
}

// ---------------------------------------------------------------------------------------------
// Inspect

export interface InspectResult {
  name: string;
  digest: string;
  mediaType: string;
  platforms?: { platform: string; digest: string }[];
  /** Of the platform manifest shown (the host's, or the only one). */
  manifestDigest?: string;
  layers?: { digest: string; size: number; mediaType: string; annotations?: Record<string, string> }[];
  labels?: Record<string, string>;
  architecture?: string;
  /** The config's variant (v7 for armhf, v8 for arm64 when given). */
  variant?: string;
  os?: string;
  created?: string;
  size?: number;
}

/**
 * `platformNamed`: the user asked for `platform` (--arch...), so an image without it is an error;
 * otherwise (the host's) an index without it shows its platforms, or its only image.
 */
export async function inspectImage(repo: ImageReader, reference: string, platform: PlatformChoice, name: string, platformNamed = false): Promise<{ result: InspectResult; raw: Uint8Array; config?: Uint8Array }> {
  const root = await repo.getManifest(reference);
  const result: InspectResult = { name, digest: root.digest, mediaType: root.mediaType };
  let manifestBytes: Uint8Array | undefined = root.bytes;
  if (isIndexMediaType(root.mediaType)) {
    const index = parseJson<ImageIndex>(root.bytes, "index");
    result.platforms = index.manifests.map((m) => ({ platform: describePlatform(m.platform), digest: m.digest }));
    const chosen = selectPlatform(index, platform) ?? (!platformNamed && index.manifests.length === 1 ? index.manifests[0] : undefined);
    if (!chosen && platformNamed) throw missingPlatform(platform, { index });
    manifestBytes = undefined;
    if (chosen) {
      const m = await repo.getManifest(chosen.digest);
      manifestBytes = m.bytes;
      result.manifestDigest = m.digest;
    }
  }
  let config: Uint8Array | undefined;
  if (manifestBytes) {
    const manifest = parseJson<ImageManifest>(manifestBytes, "manifest");
    if (manifest.layers) result.layers = manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, ...(l.annotations ? { annotations: l.annotations } : {}) }));
    if (manifest.config) {
      config = await repo.getBlobBytes(manifest.config);
      const parsed = parseJson<ImageConfig>(config, "config");
      if (platformNamed && !result.platforms && !platformMatches(parsed, platform)) throw missingPlatform(platform, { config: parsed });
      result.architecture = parsed.architecture;
      if (parsed.variant) result.variant = parsed.variant;
      result.os = parsed.os;
      result.created = parsed.created;
      result.labels = parsed.config?.Labels ?? {};
      result.size = manifest.layers.reduce((n, l) => n + l.size, 0) + manifest.config.size;
    }
  }
  return { result, raw: root.bytes, config };
}

/** Expands a gzip or zstd file (every frame of it) into `dest`, hashing the output on the way. */
async function expandFile(src: string, dest: string, compression: "gzip" | "zstd"): Promise<{ digest: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  // Bun has node:zlib's zstd streams; the types may predate them.
  const expand = compression === "gzip" ? zlib.createGunzip() : (zlib as unknown as { createZstdDecompress(): Transform }).createZstdDecompress();
  expand.on("data", (chunk: Buffer) => {
    hash.update(chunk);
    size += chunk.length;
  });
  await pipeline(createReadStream(src, { highWaterMark: 1 << 20 }), expand, createWriteStream(dest));
  return { digest: `sha256:${hash.digest("hex")}`, size };
}
