// `oci build` as a library call: an OSTree commit or a directory in, an OCI image out (layout,
// oci-archive or docker-archive). The layer is written by the native core in one pass straight into
// a temporary layout beside the output, which becomes the output only when everything succeeded.
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { allSettledOrThrow, onInterrupt, withTemporaryPath } from "./cleanup.ts";
import { ExitCode, UserError } from "./errors.ts";
import { hostDebianArch, isKnownArch, platformForDebianArch } from "./arch.ts";
import { buildConfig, buildManifest, rfc3339, type Descriptor, type ImageSettings } from "./oci/image.ts";
import { checkOutputTarget, createLocalImageSink, type LocalTarget } from "./oci/local.ts";
import { layerMediaType, type Compression } from "./oci/mediatypes.ts";
import { checkout, commitEntry, commitHasKernel, checkoutDirFor, canReadInPlace, checkoutPlanningSkeleton, planningDirFor, readCommit, resolveRef, type CommitInfo } from "./ostree.ts";
import { mapNativeError, native, type ExportLayerResult, type TreeScanResult } from "./native.ts";
import { DEFAULT_MAX_LAYERS } from "./build-config.ts";
import { DPKG_DATABASE_PATHS, planPackageLayers } from "./package-layers.ts";
import type { ProgressSink } from "./progress.ts";
import { directoryEntry, resolvesToFileInTree } from "./fs.ts";

export type BuildSource = { kind: "ostree"; repo: string; ref: string } | { kind: "rootfs"; dir: string };

export interface BuildOptions {
  source: BuildSource;
  target: LocalTarget;
  compression: Compression;
  level?: number;
  /** zstd only: independent frames compressed in parallel (default), or one frame per layer. */
  zstdFrames?: "many" | "one";
  threads?: number;
  force: boolean;
  /** Everything about the image but what comes from the source; unset fields get defaults. */
  settings: Partial<ImageSettings>;
  /** Debian architecture name (amd64, arm64, ...); default: the commit's, else the host's. */
  arch?: string;
  bootc: boolean;
  /** Split the tree into at most this many layers by dpkg package (default DEFAULT_MAX_LAYERS; 1: one layer). */
  maxLayers?: number;
  /** Clamp for file mtimes and default `created`: SOURCE_DATE_EPOCH. */
  sourceDateEpoch?: number;
  onProgress?: ProgressSink;
}

export interface BuildResult {
  digest: string;
  mediaType: string;
  size: number;
  config: { digest: string; size: number };
  layers: { digest: string; diffId: string; size: number; mediaType: string; uncompressedSize: number; entries: number; packages?: string[] }[];
  output: string;
  format: string;
  tag?: string;
  commit?: string;
  warnings: string[];
}

/** Labels a bootable image carries (see shared notes: only names consumers read). */
export function ostreeLabels(commit: CommitInfo, bootc: boolean): Record<string, string> {
  const labels: Record<string, string> = { "ostree.commit": commit.checksum };
  const version = commit.metadata["version"];
  if (typeof version === "string" && version) labels["org.opencontainers.image.version"] = version;
  const linux = commit.metadata["ostree.linux"];
  if (typeof linux === "string" && linux) labels["ostree.linux"] = linux;
  if (commit.metadata["ostree.bootable"] === true || bootc) labels["ostree.bootable"] = "true";
  if (bootc) labels["containers.bootc"] = "1";
  return labels;
}

export async function buildImage(options: BuildOptions): Promise<BuildResult> {
  const { source } = options;
  if (source.kind === "rootfs") {
    if (!existsSync(source.dir)) throw new UserError(`no such directory: ${source.dir}`, ExitCode.NotFound);
    if (!statSync(source.dir).isDirectory()) throw new UserError(`not a directory: ${source.dir}`, ExitCode.Usage);
    const dir = resolve(source.dir);
    return exportTree(options, { planDir: dir, root: dir }, undefined, [source.dir]);
  }
  const read = process.env.APT_OSTREE_READ || "auto";
  if (read !== "auto" && read !== "checkout") throw new UserError(`APT_OSTREE_READ must be checkout (or unset), got '${read}'`, ExitCode.Usage);
  const checksum = await resolveRef(source.repo, source.ref);
  // Read the commit where its objects lie (bare, bare-user, bare-user-only, archive: no checkout of
  // the whole tree, 1-9 s saved on a 1 GiB commit). Other modes, or APT_OSTREE_READ=checkout, check out.
  if (canReadInPlace(source.repo) && read !== "checkout") {
    const result = await withTemporaryPath(planningDirFor(source.repo), async (dir) => {
      // The commit's metadata and the planning skeleton (a few ostree calls each) at once.
      const [commit] = await allSettledOrThrow([readCommit(source.repo, checksum), checkoutPlanningSkeleton(source.repo, checksum, dir, DPKG_DATABASE_PATHS)]);
      if (commit.root === undefined) return undefined;
      checkOutputTarget(options.target, options.force, [source.repo]);
      return exportTree(options, { planDir: dir, root: resolve(source.repo), commitRoot: commit.root }, commit, [source.repo]);
    });
    // A commit whose root `ostree show` did not give (not expected) is checked out instead.
    if (result) return result;
  }
  const commit = await readCommit(source.repo, checksum);
  // Fail on an existing output before the (possibly long) checkout.
  checkOutputTarget(options.target, options.force, [source.repo]);
  return withTemporaryPath(checkoutDirFor(source.repo), async (dir) => {
    await checkout(source.repo, checksum, dir);
    return exportTree(options, { planDir: dir, root: dir }, commit, [source.repo]);
  });
}

/** What the native core reads: a directory, or a commit of a repository in place. */
interface ExportSource {
  /** What planning reads (usr/etc, the dpkg database): the tree, or a commit's planning skeleton. */
  planDir: string;
  /** The core's root: the tree, or the repository. */
  root: string;
  commitRoot?: { dirtree: string; dirmeta: string };
}

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The image's environment: the usual PATH unless `env` sets one (as an ENV line adds to a base image's). */
export function withDefaultPath(env: string[]): string[] {
  return env.some((e) => e.startsWith("PATH=")) ? env : [DEFAULT_PATH, ...env];
}

/** Whether the tree has a kernel where bootc and ostree look for one: /usr/lib/modules/$kver/vmlinuz. */
async function hasKernel(source: ExportSource, commit: CommitInfo | undefined, options: BuildOptions): Promise<boolean> {
  if (commit && options.source.kind === "ostree") {
    if (typeof commit.metadata["ostree.linux"] === "string") return true;
    return commitHasKernel(options.source.repo, commit.checksum);
  }
  const modules = join(source.planDir, "usr/lib/modules");
  try {
    return readdirSync(modules).some((kver) => existsSync(join(modules, kver, "vmlinuz")));
  } catch {
    return false;
  }
}

/**
 * Whether /usr/sbin/init or /sbin/init leads to a file, its links followed inside the tree (Debian's
 * is a link to systemd, absolute in older releases): a dangling one is no init to run.
 */
async function hasInit(source: ExportSource, commit: CommitInfo | undefined, options: BuildOptions): Promise<boolean> {
  const entry = commit && options.source.kind === "ostree" ? commitEntry(options.source.repo, commit.checksum) : directoryEntry(source.planDir);
  for (const path of ["/usr/sbin/init", "/sbin/init"]) if (await resolvesToFileInTree(path, entry)) return true;
  return false;
}

/** `keep`: the source (tree or repository), which the output must not replace. */
async function exportTree(options: BuildOptions, source: ExportSource, commit: CommitInfo | undefined, keep: string[]): Promise<BuildResult> {
  const tree = source.planDir;
  const nativeSource = { root: source.root, ...(source.commitRoot ? { commitDirtree: source.commitRoot.dirtree, commitDirmeta: source.commitRoot.dirmeta } : {}) };
  // Before any work: a commit may name an architecture no image can carry.
  const commitArch = typeof commit?.metadata["apt-ostree.architecture"] === "string" ? (commit.metadata["apt-ostree.architecture"] as string) : undefined;
  // The programs in the commit are of its architecture: another label would make a broken image.
  // (One no image can carry is named by --arch, as the error below asks.)
  if (options.arch && commitArch && isKnownArch(commitArch) && options.arch !== commitArch) {
    throw new UserError(`--arch ${options.arch} contradicts the commit's architecture ${commitArch} (apt-ostree.architecture)`, ExitCode.Usage);
  }
  const arch = options.arch ?? commitArch ?? hostDebianArch();
  if (!isKnownArch(arch)) throw new UserError(`unknown architecture '${arch}': pass --arch (a Debian architecture)`, ExitCode.Usage);
  const platform = platformForDebianArch(arch);
  const warnings: string[] = [];
  const sink = createLocalImageSink(options.target, { force: options.force, mtime: options.sourceDateEpoch ?? 0, keep, warn: (m) => warnings.push(m) });
  try {
    const usrEtcAsEtc = commit !== undefined && existsSync(join(tree, "usr", "etc")) && !existsSync(join(tree, "etc"));
    // An output inside the tree it is made of: neither the image being written nor the one it
    // replaces (--force) goes into the layers.
    const skipPaths = [sink.layout.dir, resolve(options.target.path)];
    const maxLayers = options.maxLayers ?? DEFAULT_MAX_LAYERS;
    const plan = planPackageLayers(tree, maxLayers);
    // The package layers, then the last one (what no package owns, or the whole tree).
    const parts: { packages: string[] }[] = [...(plan?.packages ?? []).map((packages) => ({ packages })), { packages: [] }];
    // Only when asked for explicitly: a tree without packages is a normal thing to export.
    if (options.maxLayers !== undefined && maxLayers > 1 && !plan) warnings.push("no dpkg database in the tree: writing one layer");
    if (options.bootc && !(await hasKernel(source, commit, options))) {
      warnings.push("--bootc: the tree has no kernel (no /usr/lib/modules/*/vmlinuz); bootc cannot boot this image");
    }
    // As fedora-bootc and the other bootc base images: cmd /sbin/init, so that `podman run IMAGE`
    // boots it in a container; only where there is one (Debian's comes with systemd-sysv).
    const bootcCmd = options.bootc && !options.settings.cmd && !options.settings.entrypoint;
    const init = bootcCmd && (await hasInit(source, commit, options));
    if (bootcCmd && !init) warnings.push("--bootc: the tree has no /sbin/init (Debian's is in systemd-sysv), so the image gets no cmd");
    if (commit !== undefined && !usrEtcAsEtc && existsSync(join(tree, "usr", "etc"))) {
      warnings.push("the commit has both /etc and /usr/etc: both are written as they are, /usr/etc not as /etc (ostree would not deploy such a commit)");
    }
    // One stat-only pass first: the tar's size for progress, and for a split, the paths each layer
    // must take so that files hardlinked to each other stay in one layer (one copy of the content).
    let scan: TreeScanResult | undefined;
    if (plan || options.onProgress) {
      try {
        scan = await native().scanTree({ ...nativeSource, usrEtcAsEtc, skipPaths, ...(plan ? { layerLists: plan.lists, listLinks: plan.links } : {}) });
      } catch (error) {
        throw mapNativeError(error);
      }
      if (plan) plan.lists = plan.lists.map((list, i) => list + (scan!.hardlinkMoves[i] ?? ""));
    }
    const mediaType = layerMediaType(options.compression);
    // Every layer in one pass of the core: the next layer is read while the last blocks of the
    // one before are compressed.
    const layerPaths = parts.map(() => sink.tempBlobPath());
    const task = construct(() => new (native().LayerExport)({
      ...nativeSource,
      ...(plan ? { layerLists: plan.lists, layerOutputs: layerPaths, listLinks: plan.links } : { output: layerPaths[0] }),
      compression: options.compression,
      level: options.level,
      zstdFrames: options.zstdFrames,
      threads: options.threads,
      // OSTree stores no mtimes (checkouts show 0 for files, checkout time for directories): write 0,
      // as ostree's own container export does.
      sourceDateEpoch: commit ? 0 : options.sourceDateEpoch,
      usrEtcAsEtc,
      skipPaths,
    }));
    // Waits (a bounded time) for the export to stop: its threads remove their partial layers
    // themselves, and the staging directory's removal after this must not race them.
    const stopOnInterrupt = onInterrupt(() => task.cancelAndWait(10_000));
    const timer = options.onProgress
      ? setInterval(() => {
          const p = task.progress();
          const layerNote = parts.length > 1 ? `layer ${p.layer + 1}/${parts.length}, ` : "";
          options.onProgress!({
            task: "layer",
            done: p.bytesRead,
            total: scan?.tarBytes ?? 0,
            detail: `${layerNote}${p.entries} entries, ${(p.bytesWritten / 1048576).toFixed(0)} MiB written`,
          });
        }, 100)
      : undefined;
    let results: ExportLayerResult[];
    try {
      results = await task.run();
    } catch (error) {
      throw mapNativeError(error);
    } finally {
      if (timer) clearInterval(timer);
      stopOnInterrupt();
    }
    const layers: (ExportLayerResult & { packages: string[] })[] = [];
    for (const [index, layer] of results.entries()) {
      const part = parts[index]!;
      if (layer.entries === 0 && part.packages.length) {
        // None of these packages' files is in the tree (say, all moved by a reshape): no layer.
        rmSync(layerPaths[index]!, { force: true });
        continue;
      }
      await sink.commitBlob(layerPaths[index]!, { mediaType, digest: layer.digest, size: layer.size });
      layers.push({ ...layer, packages: part.packages });
      warnings.push(...layer.warnings);
    }

    const created =
      options.settings.created ??
      (commit ? rfc3339(commit.timestamp) : rfc3339(options.sourceDateEpoch ?? 0));
    const labels = { ...(commit ? ostreeLabels(commit, options.bootc) : options.bootc ? { "containers.bootc": "1", "ostree.bootable": "true" } : {}), ...(options.settings.labels ?? {}) };
    const settings: ImageSettings = {
      architecture: platform.architecture,
      variant: platform.variant,
      os: options.settings.os ?? "linux",
      created,
      author: options.settings.author,
      labels,
      annotations: options.settings.annotations ?? {},
      env: withDefaultPath(options.settings.env ?? []),
      exposedPorts: options.settings.exposedPorts ?? [],
      volumes: options.settings.volumes ?? [],
      entrypoint: options.settings.entrypoint,
      cmd: options.settings.cmd ?? (init ? ["/sbin/init"] : undefined),
      user: options.settings.user,
      workdir: options.settings.workdir,
      stopSignal: options.settings.stopSignal,
    };
    const createdBy = commit ? `apt-ostree oci build --source ${commit.checksum}` : "apt-ostree oci build --rootfs";
    const built = layers.map((layer) => ({
      // As ostree-ext's chunked images: each package layer names its packages.
      descriptor: { mediaType, digest: layer.digest, size: layer.size, ...(layer.packages.length ? { annotations: { "ostree.components": layer.packages.join(",") } } : {}) } as Descriptor,
      diffId: layer.diffId,
      createdBy: layer.packages.length ? `${createdBy} (dpkg: ${describePackages(layer.packages)})` : createdBy,
    }));
    const config = buildConfig(settings, built);
    await sink.putBlob(config.bytes, config.descriptor);
    // The manifest carries the same map as the labels (what bootc and registries' UIs read), plus
    // the user's own annotations.
    const manifest = buildManifest(config.descriptor, built.map((b) => b.descriptor), { ...labels, ...settings.annotations });
    const root: Descriptor = { ...manifest.descriptor, platform: { architecture: platform.architecture, os: settings.os, ...(platform.variant ? { variant: platform.variant } : {}) } };
    await sink.finish(root, manifest.bytes);
    return {
      digest: manifest.descriptor.digest,
      mediaType: manifest.descriptor.mediaType,
      size: manifest.descriptor.size,
      config: { digest: config.descriptor.digest, size: config.descriptor.size },
      layers: layers.map((layer) => ({
        digest: layer.digest,
        diffId: layer.diffId,
        size: layer.size,
        mediaType,
        uncompressedSize: layer.uncompressedSize,
        entries: layer.entries,
        ...(layer.packages.length ? { packages: layer.packages } : {}),
      })),
      output: options.target.path,
      format: options.target.format,
      tag: options.target.tag,
      commit: commit?.checksum,
      warnings: [...new Set(warnings)],
    };
  } catch (error) {
    sink.abort();
    throw error;
  }
}

/** The addon's constructors check their options and throw plain errors: map them as run() errors are. */
function construct<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    throw mapNativeError(error);
  }
}

/** A short list for a history entry: the first names and how many more. */
function describePackages(names: string[]): string {
  return names.length <= 5 ? names.join(", ") : `${names.slice(0, 5).join(", ")} and ${names.length - 5} more`;
}
