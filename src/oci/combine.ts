// Local images made into one multi-platform image: an image index naming one manifest per
// platform, as registries serve images that `docker pull`, podman and bootc resolve on any
// architecture. The sources' blobs are copied into the output (nothing is copied when they are
// already there: the usual case of images built into one layout).
import { ExitCode, UserError } from "../errors.ts";
import { buildIndex, describePlatform, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from "./image.ts";
import { copyBlobOut, createLocalImageSink, openLocalImage, readManifestBlob, type ImageSink, type LocalImage, type LocalTarget } from "./local.ts";
import { MediaType, isIndexMediaType } from "./mediatypes.ts";

export interface CombineResult {
  digest: string;
  size: number;
  /** os/architecture[/variant] of each manifest, in index order. */
  platforms: string[];
}

function parse<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch {
    throw new UserError(`${what} is not valid JSON`);
  }
}

/** Copies one blob of `image` into the sink unless it is there, checking its digest on the way. */
async function copyBlob(image: LocalImage, desc: Descriptor, sink: ImageSink): Promise<void> {
  if (sink.hasBlob(desc.digest)) return;
  const temp = sink.tempBlobPath();
  await copyBlobOut(image, desc, temp);
  await sink.commitBlob(temp, desc);
}

/** One platform's manifest of a source, with its blobs copied. */
async function addManifest(image: LocalImage, desc: Descriptor, bytes: Uint8Array, sink: ImageSink, from: string): Promise<Descriptor> {
  const manifest = parse<ImageManifest>(bytes, `the manifest of ${from}`);
  if (!manifest.config || !Array.isArray(manifest.layers)) throw new UserError(`${from} is not an image (its manifest has no config or layers)`);
  for (const layer of manifest.layers) await copyBlob(image, layer, sink);
  await copyBlob(image, manifest.config, sink);
  const config = parse<ImageConfig>(await image.readBlob(manifest.config.digest), `the config of ${from}`);
  const platform: Platform = desc.platform ?? { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) };
  if (!platform.architecture || !platform.os) throw new UserError(`${from} names no platform (architecture and os) in its config`);
  await sink.putBlob(bytes, { mediaType: desc.mediaType, digest: desc.digest, size: bytes.length });
  return { mediaType: desc.mediaType ?? manifest.mediaType ?? MediaType.ociManifest, digest: desc.digest, size: bytes.length, platform };
}

/**
 * Writes an image index of `sources` (each a one-platform image, or an index whose platforms are
 * all taken) to `target`. Two images for one platform are refused.
 */
export async function combineImages(sources: { name: string; target: LocalTarget }[], target: LocalTarget, options: { force: boolean; annotations?: Record<string, string>; warn?: (message: string) => void }): Promise<CombineResult> {
  if (target.format === "docker-archive") throw new UserError("a docker-archive holds one platform's image: write the index to oci: or oci-archive:", ExitCode.Usage);
  if (sources.length === 0) throw new UserError("name at least one source image", ExitCode.Usage);
  const sink = createLocalImageSink(target, { force: options.force, warn: options.warn });
  try {
    const manifests: Descriptor[] = [];
    const seen = new Map<string, string>();
    const take = (desc: Descriptor, from: string) => {
      const name = describePlatform(desc.platform!);
      const other = seen.get(name);
      if (other !== undefined) throw new UserError(`two images for ${name}: ${other} and ${from}`, ExitCode.Usage);
      seen.set(name, from);
      manifests.push(desc);
    };
    for (const source of sources) {
      const image = await openLocalImage(source.target);
      try {
        const { descriptor, bytes } = image.root;
        if (isIndexMediaType(descriptor.mediaType) || parse<{ manifests?: unknown }>(bytes, source.name).manifests) {
          for (const child of parse<ImageIndex>(bytes, `the index of ${source.name}`).manifests) {
            take(await addManifest(image, child, await readManifestBlob(image, child.digest), sink, source.name), source.name);
          }
        } else {
          take(await addManifest(image, descriptor, bytes, sink, source.name), source.name);
        }
      } finally {
        await image.close();
      }
    }
    const index = buildIndex(manifests, options.annotations ?? {});
    await sink.finish(index.descriptor, index.bytes);
    return { digest: index.descriptor.digest, size: index.descriptor.size, platforms: manifests.map((m) => describePlatform(m.platform!)) };
  } catch (error) {
    sink.abort();
    throw error;
  }
}
