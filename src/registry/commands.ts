// The bodies of `oci push|pull|copy|inspect|tags` and `login|logout`: flags in, results out.
// Loaded lazily by src/cli/oci-registry.ts and src/cli/auth.ts.
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { DEBIAN_ARCHITECTURES, isKnownArch, ociArchOf } from "../arch.ts";
import { ExitCode, UserError, usageError } from "../errors.ts";
import type { CliContext } from "../cli/context.ts";
import { parseBool, parseJobs, parseSize, type RegistryFlags } from "../cli/oci-registry.ts";
import { isLocalImageName, openLocalImage, parseLocalTarget, createLocalImageSink, type LocalTarget } from "../oci/local.ts";
import { defaultTuning } from "./client.ts";
import { credentialLookups, defaultWriteAuthFile, parseAuthFile, parseCredsFlag, normalizeAuthKey, type Credential } from "./credentials.ts";
import { RegistryError, toUserError } from "./errors.ts";
import { copyImage, describePlatform, hostPlatform, platformChoiceFor, inspectImage, localImageReader, pullImage, pushImage, type PlatformChoice, type PullResult } from "./images.ts";
import { DOCKER_HUB, ReferenceError, formatReference, isRegistryHost, joinHostAndName, manifestReference, normalizeRegistry, parseReference, type Reference } from "./reference.ts";
import { connect, type ConnectOptions } from "./session.ts";
import { Transport } from "./transport.ts";

function ref(text: string, what: string, defaultTag: string | null = "latest"): Reference {
  // `localhost:5000` alone would parse as Docker Hub's library/localhost, tag 5000.
  if (isRegistryHost(text)) throw usageError(`${what} needs a repository: HOST/NAME${defaultTag === null ? "" : "[:TAG]"}, not just the registry ${text.trim().replace(/^docker:\/\//, "").replace(/\/+$/, "")}`);
  try {
    return parseReference(text, defaultTag);
  } catch (error) {
    if (error instanceof ReferenceError) throw usageError(`${what}: ${error.message}`);
    throw error;
  }
}

/** Runs a command body, turning registry errors into one-line user errors. */
async function guarded<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toUserError(error);
  }
}

/** `--creds USER:PASS`, checked before anything is done; the message never holds the value (a password). */
function parseCreds(value: unknown, flag: string): Credential | undefined {
  if (value === undefined) return undefined;
  const credential = parseCredsFlag(String(value));
  if (!credential) throw usageError(`${flag} must be USERNAME:PASSWORD`);
  return credential;
}

function connectOptions(ctx: CliContext, flags: RegistryFlags, side?: "src" | "dest"): ConnectOptions {
  const creds = side === "src" ? flags.srcCreds : side === "dest" ? flags.destCreds : flags.creds;
  const credential = parseCreds(creds, side ? `--${side}-creds` : "--creds");
  const verifyFlag = side === "src" ? flags.srcTlsVerify ?? flags.tlsVerify : side === "dest" ? flags.destTlsVerify ?? flags.tlsVerify : flags.tlsVerify;
  const verify = verifyFlag === undefined ? undefined : parseBool(verifyFlag, "--tls-verify");
  let tuning = defaultTuning;
  if (flags.chunkSize !== undefined) {
    const size = parseSize(flags.chunkSize, "--chunk-size");
    if (size < 1) throw usageError("--chunk-size must be positive");
    tuning = { ...defaultTuning, chunkThreshold: size, chunkSize: size };
  }
  return {
    credential,
    credentialFlag: side ? `--${side}-creds` : "--creds",
    authfile: flags.authfile,
    tls: { verify, certDir: flags.certDir },
    tuning,
    // Errors are one line; what was retried on the way is for debugging only.
    onRetry: process.env.APT_OSTREE_DEBUG ? ({ attempt, delayMs, reason }) => ctx.warn(`retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s: ${reason}`) : undefined,
  };
}

/** The user named a platform (--arch, --os, --variant), rather than taking the host's. */
function platformNamed(flags: RegistryFlags): boolean {
  return flags.arch !== undefined || flags.os !== undefined || flags.variant !== undefined;
}

/** The platform asked for, else the host's; an architecture apt-ostree does not know is a usage error, as for `oci build`. */
function platformOf(flags: RegistryFlags): PlatformChoice {
  const host = hostPlatform();
  if (flags.all && platformNamed(flags)) throw usageError("--all keeps every platform: drop --arch/--os/--variant, or --all");
  if (!platformNamed(flags)) return host;
  // Debian (arm64), OCI (arm) and uname (aarch64) names alike.
  if (flags.arch !== undefined && !isKnownArch(ociArchOf(String(flags.arch)).architecture)) {
    throw usageError(`unknown --arch '${String(flags.arch)}': expected a Debian architecture (${DEBIAN_ARCHITECTURES.join(", ")})`);
  }
  const arch = flags.arch !== undefined ? platformChoiceFor(String(flags.arch)) : { architecture: host.architecture, variant: host.variant };
  return { os: flags.os ? String(flags.os) : "linux", architecture: arch.architecture, variant: flags.variant ? String(flags.variant) : arch.variant };
}

// ---------------------------------------------------------------------------------------------

/** A tag as a plain `PATH:TAG` may end with: no colon or slash (what follows a path's last colon otherwise). */
const PLAIN_TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** A plain `PATH:TAG` whose PATH exists: [PATH, TAG]; else undefined. */
function splitPlainTag(text: string): [string, string] | undefined {
  const colon = text.lastIndexOf(":");
  const [path, tag] = [text.slice(0, colon), text.slice(colon + 1)];
  return colon > 0 && PLAIN_TAG.test(tag) && existsSync(path) ? [path, tag] : undefined;
}

/**
 * A local image given without a transport, as push takes its source: a plain `PATH:TAG` that is
 * not itself a path names the image tagged TAG in the layout (or archive) at PATH, as
 * `oci:PATH:TAG` does (what the "name one with :TAG" hint for a layout holding several images asks for).
 */
function localSource(src: string): LocalTarget {
  const target = parseLocalTarget(src);
  if (isLocalImageName(src) || existsSync(src)) return target;
  const split = splitPlainTag(src);
  return split ? { ...target, path: split[0], tag: split[1] } : target;
}

/** A local destination without a transport: `PATH:TAG` of an existing layout adds to it, as `oci:PATH:TAG`. */
function localDestination(dest: string): LocalTarget {
  if (isLocalImageName(dest) || existsSync(dest)) return parseLocalTarget(dest);
  const split = splitPlainTag(dest);
  return split && isImage(split[0]) ? { format: "oci", path: split[0], tag: split[1], addToLayout: true } : parseLocalTarget(dest);
}

/** An image on disk: a layout (oci-layout or index.json) or a file (an archive, checked when opened). */
function isImage(path: string): boolean {
  const stat = statSync(path, { throwIfNoEntry: false });
  return Boolean(stat?.isFile() || (stat?.isDirectory() && (existsSync(join(path, "oci-layout")) || existsSync(join(path, "index.json")))));
}

/**
 * Whether an argument of inspect or copy, which take images of both kinds, is a local one: a
 * transport (oci:, oci-archive:, docker-archive:), a path (`/...`, `./...`, `../...`), or an
 * image that exists on disk (a layout or a file, with an optional `:TAG`). Anything else, and every
 * `docker://`, is a registry's: `debian:bookworm` stays Docker Hub's beside a `debian/` directory.
 */
function isLocalArgument(text: string): boolean {
  if (isLocalImageName(text)) return true;
  if (text.startsWith("docker://")) return false;
  if (/^\.{0,2}\//.test(text)) return true;
  if (isImage(text)) return true;
  const split = splitPlainTag(text);
  return split !== undefined && isImage(split[0]);
}

/**
 * A name without a registry or transport that reads like a file name (`img.tar`, `image.oci`):
 * as a registry reference it is Docker Hub's library/img.tar, which is almost never what was meant
 * when no such file exists. `docker://img.tar` still names Docker Hub's.
 */
function looksLikeFile(text: string): boolean {
  return !text.includes("/") && /\.(tar|tgz|tar\.(gz|zst|xz)|oci)(:[^:]*)?$/i.test(text);
}

/** Refuses an argument of inspect or copy that is a missing file rather than a Docker Hub image. */
function refuseMissingFile(text: string, side: "source" | "destination"): void {
  if (!looksLikeFile(text)) return;
  if (side === "source") throw new UserError(`${text}: no such file (Docker Hub's image of that name is docker://${text})`, ExitCode.NotFound);
  throw usageError(`destination ${text} would be Docker Hub's library/${text}: write ./${text} or oci-archive:${text} for a file, docker://${text} for Docker Hub`);
}

/** `side`: which of copy's --src-/--dest- flags apply (push and pull have plain --creds, --tls-verify). */
export async function push(ctx: CliContext, src: string, dest: string, name: string | undefined, flags: RegistryFlags, side?: "dest"): Promise<number> {
  if (name !== undefined) {
    // NAME:TAG completes the original form's bare registry; joined to a full reference it makes nonsense.
    const bare = dest.replace(/^docker:\/\//, "").replace(/\/+$/, "");
    const form = "a third argument (NAME:TAG) goes only with a bare registry (oci push SRC HOST[:PORT] NAME:TAG)";
    if (/[/@]/.test(bare)) throw usageError(`${form}; ${dest} names the repository already: drop '${name}'`);
    if (dest.startsWith("docker://")) throw usageError(`${form}; a docker:// destination names the repository itself: docker://${bare}/${name}`);
  }
  const destText = name ? joinHostAndName(dest, name) : dest;
  const target = ref(destText, "destination");
  const jobs = parseJobs(flags.jobs);
  const options = connectOptions(ctx, flags, side);
  // copy --arch: only that platform's image; otherwise the whole image, every platform.
  const platform = platformNamed(flags) ? platformOf(flags) : undefined;
  const image = await openLocalImage(localSource(src));
  const progress = ctx.progress(Boolean(flags.json));
  const started = Date.now();
  try {
    const result = await guarded(async () => {
      const repo = await connect(target, ["pull", "push"], options);
      return pushImage(image, repo, { reference: manifestReference(target), platform, jobs, progress });
    });
    progress.end();
    if (flags.json) {
      ctx.out(JSON.stringify({ digest: result.digest, mediaType: result.mediaType, reference: formatReference(target), ...result.stats, unchanged: result.unchanged, seconds: (Date.now() - started) / 1000 }, null, 2));
    } else ctx.out(result.digest);
    return ExitCode.Ok;
  } finally {
    progress.end();
    await image.close();
  }
}

/**
 * What pull and a local copy print: the digest of what was written, or with --json what was
 * written where. A docker-archive holds no manifest: its digest is that of the manifest `oci
 * inspect` reads from it (layers as stored, uncompressed), not the source's (`sourceDigest`).
 */
async function printPulled(ctx: CliContext, flags: RegistryFlags, result: PullResult, target: LocalTarget): Promise<void> {
  let { digest, mediaType } = result;
  if (target.format === "docker-archive") {
    const written = await openLocalImage(target);
    ({ digest, mediaType } = written.root.descriptor);
    await written.close();
  }
  if (flags.json) ctx.out(JSON.stringify({ digest, mediaType, sourceDigest: result.sourceDigest, platforms: result.platforms, bytes: result.bytes, output: target.path }, null, 2));
  else ctx.out(digest);
}

export async function pull(ctx: CliContext, src: string, dest: string, flags: RegistryFlags, side?: "src"): Promise<number> {
  // Only for pull itself: copy sends a local source elsewhere before it gets here.
  if (side === undefined && isLocalArgument(src)) throw usageError(`oci pull takes a registry's image; ${src} is a local one (oci copy copies between local images)`);
  const source = ref(src, "source");
  const target = localDestination(dest);
  if (target.format === "docker-archive" && !target.tag && source.tag) target.tag = `${source.registry}/${source.repository}:${source.tag}`;
  if (target.format === "docker-archive" && flags.all) throw usageError("a docker-archive holds one platform: drop --all");
  const jobs = parseJobs(flags.jobs);
  const options = connectOptions(ctx, flags, side);
  const platform = platformOf(flags);
  const progress = ctx.progress(Boolean(flags.json));
  const sink = createLocalImageSink(target, { force: Boolean(flags.force), warn: (m) => ctx.warn(`warning: ${m}`) });
  try {
    const result = await guarded(async () => {
      const repo = await connect(source, ["pull"], options);
      return pullImage(repo, sink, { reference: manifestReference(source), platform, platformNamed: platformNamed(flags), all: Boolean(flags.all), jobs, progress, uncompressedLayers: target.format === "docker-archive" });
    });
    progress.end();
    await printPulled(ctx, flags, result, target);
    return ExitCode.Ok;
  } catch (error) {
    sink.abort();
    throw error;
  } finally {
    progress.end();
  }
}

export async function copy(ctx: CliContext, src: string, dest: string, flags: RegistryFlags): Promise<number> {
  // As skopeo copy: a local image on either side makes it a push or a pull.
  const [fromLocal, toLocal] = [isLocalArgument(src), isLocalArgument(dest)];
  if (!fromLocal) refuseMissingFile(src, "source");
  if (!toLocal) refuseMissingFile(dest, "destination");
  if (fromLocal && toLocal) return copyLocal(ctx, src, dest, flags);
  if (fromLocal) return push(ctx, src, dest, undefined, flags, "dest");
  if (toLocal) return pull(ctx, src, dest, flags, "src");
  const source = ref(src, "source");
  const target = ref(dest, "destination");
  const jobs = parseJobs(flags.jobs);
  // --arch: only that platform's image; otherwise the whole image, every platform.
  const platform = platformNamed(flags) ? platformOf(flags) : undefined;
  const [srcOptions, dstOptions] = [connectOptions(ctx, flags, "src"), connectOptions(ctx, flags, "dest")];
  const started = Date.now();
  const progress = ctx.progress(Boolean(flags.json));
  const sameRegistry = source.registry === target.registry;
  try {
    const result = await guarded(async () => {
      const srcRepo = await connect(source, ["pull"], srcOptions);
      const dstRepo = await connect(target, ["pull", "push"], dstOptions);
      if (sameRegistry && source.repository !== target.repository) dstRepo.transport.addScope(`repository:${source.repository}:pull`);
      return copyImage(srcRepo, dstRepo, { sourceReference: manifestReference(source), destReference: manifestReference(target), sameRegistry, platform, jobs, progress });
    });
    progress.end();
    if (flags.json) ctx.out(JSON.stringify({ digest: result.digest, mediaType: result.mediaType, reference: formatReference(target), ...result.stats, unchanged: result.unchanged, seconds: (Date.now() - started) / 1000 }, null, 2));
    else ctx.out(result.digest);
    return ExitCode.Ok;
  } finally {
    progress.end();
  }
}

/**
 * Between two local images (as skopeo copy oci:... oci-archive:...): a pull whose source is the
 * local image, so platform choice, --all and a docker-archive's expanded layers work as for a pull.
 */
async function copyLocal(ctx: CliContext, src: string, dest: string, flags: RegistryFlags): Promise<number> {
  const source = localSource(src);
  const target = localDestination(dest);
  if (target.format === "docker-archive" && flags.all) throw usageError("a docker-archive holds one platform: drop --all");
  if (target.format === "docker-archive" && !target.tag && source.tag) target.tag = source.tag;
  const platform = platformOf(flags);
  const image = await openLocalImage(source);
  const progress = ctx.progress(Boolean(flags.json));
  const sink = createLocalImageSink(target, { force: Boolean(flags.force), warn: (m) => ctx.warn(`warning: ${m}`) });
  try {
    const result = await pullImage(localImageReader(image), sink, {
      reference: image.root.descriptor.digest,
      platform,
      platformNamed: platformNamed(flags),
      all: Boolean(flags.all),
      jobs: 1,
      progress,
      uncompressedLayers: target.format === "docker-archive",
    });
    progress.end();
    await printPulled(ctx, flags, result, target);
    return ExitCode.Ok;
  } catch (error) {
    sink.abort();
    // No registry here: a RegistryError (no image for the platform asked for...) is about the image.
    throw error instanceof RegistryError ? new UserError(error.message, error.kind === "not-found" ? ExitCode.NotFound : ExitCode.Failure) : error;
  } finally {
    progress.end();
    await image.close();
  }
}

async function inspectLocal(text: string, platform: PlatformChoice, named: boolean) {
  const image = await openLocalImage(localSource(text));
  try {
    return await guarded(() => inspectImage(localImageReader(image), image.root.descriptor.digest, platform, text, named));
  } finally {
    await image.close();
  }
}

export async function inspect(ctx: CliContext, text: string, flags: RegistryFlags): Promise<number> {
  // --raw and --config print bytes as stored, not our JSON: asking for both would drop one unsaid.
  if (flags.json && (flags.raw || flags.config)) throw usageError(`--json and ${flags.raw ? "--raw" : "--config"} print different things: use one`);
  const platform = platformOf(flags);
  // --raw is the bytes the reference names, whatever the platform.
  const named = platformNamed(flags) && !flags.raw;
  const { result, raw, config } = isLocalArgument(text)
    ? await inspectLocal(text, platform, named)
    : await (async () => {
        refuseMissingFile(text, "source");
        const source = ref(text, "reference");
        const options = connectOptions(ctx, flags);
        return guarded(async () => {
          const repo = await connect(source, ["pull"], options);
          return inspectImage(repo, manifestReference(source), platform, formatReference(source), named);
        });
      })();
  // --config (with or without --raw, as skopeo's --config --raw) is the config blob's bytes.
  if (flags.config) {
    if (!config) throw new UserError(`${result.name} is an index with no image for ${describePlatform(platform)}; pick one with --arch`, ExitCode.NotFound);
    ctx.outBytes(config);
    return ExitCode.Ok;
  }
  if (flags.raw) {
    ctx.outBytes(raw);
    return ExitCode.Ok;
  }
  if (flags.json) {
    ctx.out(JSON.stringify(result, null, 2));
    return ExitCode.Ok;
  }
  const lines = [`Name:       ${result.name}`, `Digest:     ${result.digest}`, `MediaType:  ${result.mediaType}`];
  if (result.platforms) {
    lines.push("Platforms:");
    for (const p of result.platforms) lines.push(`  ${p.platform.padEnd(20)} ${p.digest}`);
  }
  if (result.manifestDigest) lines.push(`Manifest:   ${result.manifestDigest}`);
  if (result.os) lines.push(`Platform:   ${describePlatform({ os: result.os, architecture: result.architecture ?? "unknown", variant: result.variant })}`);
  if (result.created) lines.push(`Created:    ${result.created}`);
  if (result.layers) {
    lines.push("Layers:");
    for (const l of result.layers) {
      lines.push(`  ${l.digest}  ${String(l.size).padStart(12)}  ${l.mediaType}`);
      // Say, which packages a layer holds (ostree.components); --json has the whole values.
      for (const [k, v] of Object.entries(l.annotations ?? {})) lines.push(`    ${k}=${v.length > 100 ? `${v.slice(0, 97)}...` : v}`);
    }
  }
  if (result.labels && Object.keys(result.labels).length) {
    lines.push("Labels:");
    for (const [k, v] of Object.entries(result.labels)) lines.push(`  ${k}=${v}`);
  }
  for (const line of lines) ctx.out(line);
  return ExitCode.Ok;
}

export async function tags(ctx: CliContext, text: string, flags: RegistryFlags): Promise<number> {
  if (isLocalArgument(text)) throw usageError(`oci tags lists the tags of a repository in a registry (HOST/NAME), not of a local image (${text})`);
  const source = ref(text, "oci tags", null);
  if (source.tag || source.digest) throw usageError("oci tags takes a repository without a tag or digest: HOST/NAME");
  const options = connectOptions(ctx, flags);
  const pageSize = flags.pageSize === undefined ? 1000 : Number(flags.pageSize);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw usageError("--page-size expects a whole number from 1 to 1000");
  const list = await guarded(async () => (await connect(source, ["pull"], options)).listTags(pageSize));
  if (flags.json) ctx.out(JSON.stringify({ repository: `${source.registry}/${source.repository}`, tags: list }, null, 2));
  else for (const t of list) ctx.out(t);
  return ExitCode.Ok;
}

// ---------------------------------------------------------------------------------------------
// login / logout

export interface LoginFlags {
  username?: string;
  passwordStdin?: boolean;
  authfile?: string;
  certDir?: string;
  tlsVerify?: unknown;
  all?: boolean;
}

function registryArg(text: string | undefined): string {
  if (!text) return DOCKER_HUB;
  const host = normalizeAuthKey(text);
  if (!host || /\s/.test(host)) throw usageError(`invalid registry '${text}'`);
  return host.includes("/") ? host : normalizeRegistry(host);
}

function readAuthJson(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  const text = readFileSync(path, "utf8");
  if (!text.trim()) return {};
  try {
    parseAuthFile(text, path);
  } catch (error) {
    throw toUserError(error);
  }
  return JSON.parse(text) as Record<string, unknown>;
}

/** The file a path ends at through symlinks, even a dangling one (where that file is to be created). */
function followLinks(path: string): string {
  let current = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    let link: string;
    try {
      if (!lstatSync(current).isSymbolicLink()) return current;
      link = readlinkSync(current);
    } catch {
      return current; // not there (yet)
    }
    // Relative to the directory as the kernel sees it (its own parents may be links).
    let dir = dirname(current);
    try {
      dir = realpathSync(dir);
    } catch {
      // not there (yet): created below
    }
    current = resolve(dir, link);
  }
  throw new UserError(`${path}: too many levels of symbolic links`, ExitCode.Usage);
}

/**
 * Atomic: a temporary file renamed over the auth file. An auth file that is a symlink (to a
 * dotfiles repository, a secrets mount) stays one: the rename is onto its target, in the
 * target's directory.
 */
function writeAuthJson(path: string, json: Record<string, unknown>): void {
  const target = followLinks(path);
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  // Unpredictable and exclusive: the directory may be shared (/tmp).
  const temp = `${target}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  try {
    writeFileSync(temp, JSON.stringify(json, null, "\t") + "\n", { mode: 0o600, flag: "wx" });
    chmodSync(temp, 0o600);
    renameSync(temp, target);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** `prompt`: asks on the terminal (given only when stdin is one); without it the password must come on stdin. */
export async function login(ctx: CliContext, host: string | undefined, flags: LoginFlags, stdin: () => Promise<string>, prompt?: () => Promise<string>): Promise<number> {
  const registry = registryArg(host);
  const registryHost = registry.split("/")[0]!;
  if (!flags.username) throw usageError("login needs --username (and the password on stdin with --password-stdin)");
  // Basic auth joins them with a colon: one in the name would move the rest into the password.
  if (String(flags.username).includes(":")) throw usageError("--username may not contain ':'");
  if (!flags.passwordStdin && !prompt) throw usageError("login reads the password from stdin: add --password-stdin");
  const password = flags.passwordStdin ? (await stdin()).replace(/\r?\n$/, "") : await prompt!();
  if (!password) throw usageError(flags.passwordStdin ? "no password on stdin" : "no password given");
  const credential: Credential = { kind: "basic", username: String(flags.username), password };
  const verify = flags.tlsVerify === undefined ? undefined : parseBool(flags.tlsVerify, "--tls-verify");
  await guarded(async () => {
    const transport = new Transport({ registry: registryHost, credential, scopes: [], tls: { verify, certDir: flags.certDir } });
    try {
      await transport.ping();
    } catch (error) {
      if (error instanceof RegistryError && (error.status === 401 || error.kind === "auth")) {
        throw new UserError(`login to ${registry} failed: wrong username or password`, ExitCode.Auth);
      }
      throw error;
    }
  });
  const path = defaultWriteAuthFile({ authfile: flags.authfile });
  const json = readAuthJson(path);
  const auths = (json.auths && typeof json.auths === "object" ? json.auths : {}) as Record<string, unknown>;
  auths[registry] = { auth: Buffer.from(`${credential.username}:${password}`, "utf8").toString("base64") };
  json.auths = auths;
  writeAuthJson(path, json);
  ctx.warn(`logged in to ${registry} (credentials in ${path})`);
  return ExitCode.Ok;
}

export async function logout(ctx: CliContext, host: string | undefined, flags: LoginFlags): Promise<number> {
  if (flags.all && host) throw usageError(`logout --all removes every registry's credentials: drop '${host}' or --all`);
  const path = defaultWriteAuthFile({ authfile: flags.authfile });
  // A file named that is not there is a mistyped path, not a file with no credentials (as for push).
  if (flags.authfile && !existsSync(path)) throw new UserError(`auth file not found: ${flags.authfile}`, ExitCode.NotFound);
  const json = readAuthJson(path);
  const auths = (json.auths && typeof json.auths === "object" ? json.auths : {}) as Record<string, unknown>;
  if (flags.all) {
    if (!Object.keys(auths).length) {
      ctx.warn(`no credentials to remove (in ${path})`);
      return ExitCode.Ok;
    }
    json.auths = {};
    writeAuthJson(path, json);
    ctx.warn(`removed all credentials from ${path}`);
    return ExitCode.Ok;
  }
  // As docker logout: no registry is Docker Hub, as for login.
  const registry = registryArg(host);
  const keys = Object.keys(auths).filter((k) => normalizeAuthKey(k) === registry);
  if (!keys.length) {
    // Credentials elsewhere (docker's config.json, another containers file) would still be used: say where.
    const elsewhere = flags.authfile ? undefined : credentialLookups(registry, undefined, {}).find((l) => l.source !== path);
    const where = elsewhere ? (elsewhere.found === "helper" ? `credential helper docker-credential-${elsewhere.helper} (named in ${elsewhere.source})` : elsewhere.source) : undefined;
    throw new UserError(`not logged in to ${registry} (in ${path})${where ? `; its credentials are in ${where}, which apt-ostree still uses` : ""}`, ExitCode.NotFound);
  }
  for (const k of keys) delete auths[k];
  json.auths = auths;
  writeAuthJson(path, json);
  ctx.warn(`logged out of ${registry}`);
  return ExitCode.Ok;
}
