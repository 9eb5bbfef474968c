// `apt-ostree oci build`: binds flags (and a config file) to buildImage and prints the result.
import type { CAC } from "cac";
import { ExitCode, UserError, usageError } from "../errors.ts";
import { MAX_LAYERS, parseBuildConfig, parseCommand, type BuildConfig } from "../build-config.ts";
import { DEBIAN_ARCHITECTURES, isKnownArch } from "../arch.ts";
import { normalisePort, parseCreated, parseKeyValue } from "../oci/image.ts";
import { dockerRepoTag, parseFormat, parseLocalTarget } from "../oci/local.ts";
import type { Compression } from "../oci/mediatypes.ts";
import { pathFromConfig, readConfigFile, targetFromConfig } from "./config-file.ts";
import { sourceDateEpoch } from "../epoch.ts";
import { toList, type CliContext } from "./context.ts";

export interface BuildFlags {
  source?: string;
  repo?: string;
  rootfs?: string;
  output?: string;
  format?: string;
  tag?: string;
  label?: unknown;
  annotation?: unknown;
  env?: unknown;
  expose?: unknown;
  volume?: unknown;
  cmd?: string;
  entrypoint?: string;
  user?: string;
  workdir?: string;
  arch?: string;
  created?: string;
  bootc?: boolean;
  compression?: string;
  level?: number | string;
  zstdFrames?: string;
  threads?: number | string;
  maxLayers?: number | string;
  force?: boolean;
  json?: boolean;
  config?: string;
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw usageError(error instanceof Error ? error.message : String(error));
  }
}

function integer(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  // Number("") is 0 and Number("0x10") 16: only decimal digits are a number here.
  if (typeof value !== "number" && !/^-?\d+$/.test(String(value))) throw usageError(`${flag} expects a whole number, got '${value}'`);
  const n = Number(value);
  if (!Number.isInteger(n)) throw usageError(`${flag} expects a whole number, got '${value}'`);
  return n;
}

/** The levels each compression takes (the native core checks again; this fails before any work; test/native.test.ts keeps the two equal). */
function checkLevel(compression: string, level: number): void {
  const ok = compression === "gzip" ? level >= 1 && level <= 9 : compression === "zstd" ? (level >= 1 && level <= 19) || (level >= -7 && level <= -1) : level === 0;
  const range = compression === "gzip" ? "1-9" : compression === "zstd" ? "1-19, or -7 to -1 for the fast levels" : "only 0";
  if (!ok) throw usageError(`--level ${level} is out of range for ${compression} (${range})`);
}

/** Merges defaults < config file < flags into BuildOptions (pure apart from reading --config). */
export function resolveBuildOptions(flags: BuildFlags, env: NodeJS.ProcessEnv = process.env) {
  const file: BuildConfig = flags.config ? wrap(() => parseBuildConfig(readConfigFile(flags.config!), flags.config!)) : {};
  if (flags.config) {
    // The file's paths are relative to the file; the flags' to the working directory.
    if (file.repo) file.repo = pathFromConfig(flags.config, file.repo);
    if (file.rootfs) file.rootfs = pathFromConfig(flags.config, file.rootfs);
    if (file.output) file.output = targetFromConfig(flags.config, file.output);
  }
  const source = flags.source ?? (flags.rootfs ? undefined : file.source);
  const rootfs = flags.rootfs ?? (flags.source ? undefined : file.rootfs);
  const repo = flags.repo ?? file.repo;
  if (source && rootfs) throw usageError("--source and --rootfs exclude each other");
  if (!source && !rootfs) throw usageError("a source is required: --source REF --repo REPO, or --rootfs DIR");
  if (source && !repo) throw usageError("--source needs --repo REPO (the OSTree repository)");
  const outputText = flags.output ?? file.output;
  if (!outputText) throw usageError("--output is required (a path, oci:PATH[:TAG], oci-archive:PATH or docker-archive:PATH[:NAME:TAG])");
  const format = flags.format ?? file.format;
  const target = parseLocalTarget(outputText, format ? parseFormat(format) : "oci");
  if (format && /^(oci|oci-archive|docker-archive):/.test(outputText) && parseFormat(format) !== target.format) {
    throw usageError(`${flags.format ? "--format" : "the config file's format:"} ${format} contradicts the output '${outputText}'`);
  }
  // A tag in the --output flag wins over the config file's tag, as flags do.
  // Empty, these would write the same image as leaving them out: a variable that expanded to nothing.
  for (const [flag, value] of [["--tag", flags.tag], ["--user", flags.user], ["--workdir", flags.workdir]] as const) {
    if (value !== undefined && String(value).trim() === "") throw usageError(`${flag} must not be empty`);
  }
  const tag = flags.tag ?? (flags.output !== undefined && target.tag ? undefined : file.tag);
  if (tag && target.tag && tag !== target.tag) throw usageError(`${flags.tag !== undefined ? "--tag" : "the config file's tag:"} ${tag} contradicts the tag in '${outputText}'`);
  target.tag = target.tag ?? tag ?? (target.format === "docker-archive" ? undefined : "latest");
  if (target.tag && target.format !== "docker-archive" && !/^[A-Za-z0-9_][A-Za-z0-9._:/@+-]*$/.test(target.tag)) throw usageError(`invalid tag '${target.tag}'`);
  // Before any work, not when the archive is written.
  if (target.format === "docker-archive") dockerRepoTag(target.tag);

  const compressionText = flags.compression ?? file.compression ?? (target.format === "docker-archive" ? "none" : "gzip");
  if (!["gzip", "zstd", "none"].includes(compressionText)) throw usageError(`invalid --compression '${compressionText}': expected gzip, zstd or none`);
  const compression = compressionText as Compression;
  if (target.format === "docker-archive" && compression !== "none") throw usageError("docker-archive layers are stored uncompressed; drop --compression or use an oci format");
  // A --compression flag other than zstd overrides a config file's zstd settings with them.
  const zstdFrames = flags.zstdFrames ?? (flags.compression !== undefined && compression !== "zstd" ? undefined : file.zstdFrames);
  if (zstdFrames !== undefined && !["many", "one"].includes(zstdFrames)) throw usageError(`invalid --zstd-frames '${zstdFrames}': expected many or one`);
  if (zstdFrames !== undefined && compression !== "zstd") throw usageError(`--zstd-frames applies to zstd layers, not ${compression}`);

  const labels = { ...(file.labels ?? {}), ...wrap(() => Object.fromEntries(toList(flags.label).map((l) => parseKeyValue(l, "label")))) };
  const annotations = { ...(file.annotations ?? {}), ...wrap(() => Object.fromEntries(toList(flags.annotation).map((a) => parseKeyValue(a, "annotation")))) };
  const fileEnv = Array.isArray(file.env) ? file.env : Object.entries(file.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const flagEnv = wrap(() => toList(flags.env).map((e) => parseKeyValue(e, "env").join("=")));
  const envMap = new Map<string, string>();
  for (const e of [...fileEnv, ...flagEnv]) envMap.set(e.slice(0, e.indexOf("=")), e);
  const exposed = wrap(() => [...(file.expose ?? []), ...toList(flags.expose)].map(normalisePort));
  const volumes = [...(file.volumes ?? []), ...toList(flags.volume)];
  for (const v of volumes) if (!v.startsWith("/")) throw usageError(`invalid --volume '${v}': must be an absolute path`);
  const workdir = flags.workdir ?? file.workdir;
  if (workdir && !workdir.startsWith("/")) throw usageError(`invalid --workdir '${workdir}': must be an absolute path`);
  const createdText = flags.created ?? file.created;
  const sde = sourceDateEpoch(env);
  const level = integer(flags.level ?? file.level, "--level");
  if (level !== undefined) checkLevel(compression, level);
  const threads = integer(flags.threads ?? file.threads, "--threads");
  if (threads !== undefined && (threads < 1 || threads > 256)) throw usageError("--threads must be between 1 and 256");
  const arch = flags.arch ?? file.arch;
  if (arch !== undefined && !isKnownArch(arch)) throw usageError(`unknown --arch '${arch}': expected a Debian architecture (${DEBIAN_ARCHITECTURES.join(", ")})`);
  const maxLayers = integer(flags.maxLayers ?? file.maxLayers, "--max-layers");
  if (maxLayers !== undefined && (maxLayers < 1 || maxLayers > MAX_LAYERS)) throw usageError(`--max-layers must be between 1 and ${MAX_LAYERS}`);

  const bootc = Boolean(flags.bootc ?? file.bootc);
  // --bootc's own labels: another value for them is a contradiction, not an override.
  for (const [key, value] of [["containers.bootc", "1"], ["ostree.bootable", "true"]]) {
    if (bootc && labels[key!] !== undefined && labels[key!] !== value) throw usageError(`--bootc sets the label ${key}=${value}; the label ${key}=${labels[key!]} contradicts it`);
  }

  return {
    source: source ? ({ kind: "ostree", repo: repo!, ref: source } as const) : ({ kind: "rootfs", dir: rootfs! } as const),
    target,
    compression,
    level,
    zstdFrames: zstdFrames as "many" | "one" | undefined,
    threads,
    maxLayers,
    force: Boolean(flags.force),
    bootc,
    arch,
    sourceDateEpoch: sde,
    settings: {
      labels,
      annotations,
      ...(envMap.size ? { env: [...envMap.values()] } : {}),
      exposedPorts: exposed,
      volumes,
      cmd: flags.cmd !== undefined ? wrap(() => parseCommand(flags.cmd!, "--cmd")) : file.cmd,
      entrypoint: flags.entrypoint !== undefined ? wrap(() => parseCommand(flags.entrypoint!, "--entrypoint")) : file.entrypoint,
      user: flags.user ?? file.user,
      workdir,
      os: file.os,
      author: file.author,
      stopSignal: file.stopSignal,
      ...(createdText ? { created: wrap(() => parseCreated(createdText)) } : {}),
    },
  };
}

export function registerBuild(cli: CAC, ctx: CliContext): void {
  cli
    .command("build", "Build an OCI image from an OSTree commit or a root filesystem directory")
    .option("--source <ref>", "OSTree ref or commit checksum (with --repo)")
    .option("--repo <path>", "OSTree repository holding --source")
    .option("--rootfs <dir>", "a root filesystem directory instead of an OSTree commit")
    .option("--output <target>", "PATH, oci:PATH[:TAG] (adds to an existing layout), oci-archive:PATH[:TAG] or docker-archive:PATH[:NAME:TAG]")
    .option("--format <format>", "oci (image layout directory), oci-archive, or docker (docker save tar) (default: oci)")
    .option("--tag <tag>", "tag recorded in the output (default: latest; docker-archive: none, or NAME:TAG)")
    .option("--label <key=value>", "image label (repeatable)")
    .option("--annotation <key=value>", "manifest annotation (repeatable)")
    .option("--env <KEY=VALUE>", "environment variable; PATH is the usual one unless set here (repeatable)")
    .option("--expose <port>", "exposed port, e.g. 80/tcp (repeatable)")
    .option("--volume <path>", "volume mount point (repeatable)")
    .option("--cmd <command>", `default command: a JSON array ('["/bin/sh","-c","x"]') or words`)
    .option("--entrypoint <command>", "entrypoint, as --cmd")
    .option("--user <user>", "user[:group] the container runs as")
    .option("--workdir <dir>", "working directory")
    .option("--arch <arch>", "architecture, Debian name (default: the commit's, else the host's)")
    .option("--created <time>", "creation time: ISO 8601 (UTC unless it has an offset), @SECONDS or now (default: the commit's time, else SOURCE_DATE_EPOCH, else 1970)")
    .option("--bootc", "mark the image bootable by bootc (labels containers.bootc=1, ostree.bootable=true; cmd /sbin/init unless --cmd or --entrypoint)")
    .option("--compression <kind>", "gzip, zstd or none (default: gzip; none for docker)")
    .option("--level <n>", "compression level: gzip 1-9 (default 1, every 8th block at 2), zstd 1-19 or -7..-1 (default 1)")
    .option("--zstd-frames <layout>", "zstd layers as many independent frames (default; fastest) or one frame, for readers that stop at the first frame")
    .option("--threads <n>", "compression threads (default: all cores; output is the same for any count)")
    .option("--max-layers <n>", "split the tree into at most N layers by dpkg package, the last holding files no package owns; 1: one layer (default: 8)")
    .option("--config <file>", "settings from a JSON, YAML or TOML file; flags win")
    .option("--force", "replace an existing output")
    .option("--json", "print the result as JSON")
    .example("apt-ostree oci build --source debian/bookworm --repo /srv/repo --output oci:/tmp/img:latest --bootc")
    .example("apt-ostree oci build --source debian/bookworm --output my-image.oci --format oci --repo /srv/ostree")
    .example("apt-ostree oci build --rootfs ./rootfs --output docker-archive:/tmp/img.tar:demo:1.0 --cmd /bin/bash")
    .example("apt-ostree oci build --rootfs ./rootfs --output oci-archive:/tmp/img.tar --compression zstd --json")
    .action(async (flags: BuildFlags) => {
      const options = resolveBuildOptions(flags);
      const { buildImage } = await import("../build.ts");
      const progress = ctx.progress(Boolean(flags.json));
      let result;
      try {
        // Nothing shown, nothing polled: no calls into the addon while it runs.
        result = await buildImage({ ...options, onProgress: progress.active ? progress : undefined });
      } finally {
        progress.end();
      }
      for (const w of result.warnings) ctx.warn(`warning: ${w}`);
      if (flags.json) ctx.out(JSON.stringify(result, null, 2));
      else ctx.out(result.digest);
      return ExitCode.Ok;
    });
}
