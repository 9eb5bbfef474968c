// `apt-ostree compose ...`: base, install, remove, commit. The command binds flags (defaults <
// compose file < flags given) and prints the result; the work is in src/compose.
import type { CAC } from "cac";
import { usageError } from "../errors.ts";
import type { CommandGroup } from "./main.ts";
import { toList, type CliContext } from "./context.ts";
import { pathFromConfig, readConfigFile } from "./config-file.ts";
import type { ComposeFile } from "../compose/config.ts";
import type { ComposeResult, CommonOptions } from "../compose/compose.ts";
import type { MetadataValue } from "../compose/metadata.ts";

function list(value: unknown): string[] {
  return toList(value)
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean);
}

function str(value: unknown): string | undefined {
  if (value === undefined || value === null || value === false || value === true) return undefined;
  const all = toList(value);
  return all[all.length - 1];
}

async function loadConfig(path: unknown): Promise<ComposeFile> {
  const file = str(path);
  if (!file) return {};
  const { parseComposeFile } = await import("../compose/config.ts");
  // One reader for every config file: formats by extension, errors with their line.
  const config = parseComposeFile(readConfigFile(file), file);
  // The file's paths are relative to the file; the flags' to the working directory.
  if (config.repo) config.repo = pathFromConfig(file, config.repo);
  if (config.keyring) config.keyring = pathFromConfig(file, config.keyring);
  return config;
}

/** An archive URL, checked before any work (mmdebstrap would fail late, with exit 1). */
function checkMirror(url: string | undefined, flag: string): string | undefined {
  if (url === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(`invalid ${flag} '${url}': expected a URL such as http://deb.debian.org/debian`);
  }
  if (!["http:", "https:", "file:", "copy:", "mirror+http:", "mirror+https:", "tor+http:", "tor+https:"].includes(parsed.protocol)) {
    throw usageError(`invalid ${flag} '${url}': apt cannot fetch ${parsed.protocol.replace(/:$/, "")} URLs`);
  }
  // The URL goes into the system's sources.list, and so into every image made of it.
  if (parsed.username || parsed.password) {
    throw usageError(`${flag} must not hold credentials (they would be written into the image's sources.list): put them in /etc/apt/auth.conf.d/ instead`);
  }
  return url;
}

/** Package names, checked before any work as the compose file's are. */
async function checkPackages(names: string[], flag: string): Promise<string[]> {
  const { PACKAGE_NAME, PACKAGE_NAME_RULE } = await import("../compose/config.ts");
  const bad = names.find((n) => !PACKAGE_NAME.test(n));
  if (bad !== undefined) throw usageError(`invalid package '${bad}' in ${flag}: ${PACKAGE_NAME_RULE}`);
  return names;
}

async function common(options: Record<string, unknown>, config: ComposeFile, ctx: CliContext, refRequired = true): Promise<Omit<CommonOptions, "progress"> & { warnings: string[] }> {
  const [{ isComputedMetadataKey, parseMetadataFlag }, { METADATA_KEY }] = await Promise.all([import("../compose/metadata.ts"), import("../compose/config.ts")]);
  const repo = str(options.repo) ?? config.repo;
  const ref = str(options.ref) ?? config.ref;
  if (!repo) throw usageError("--repo is required (or `repo` in the compose file)");
  if (!ref && refRequired) throw usageError("--ref is required (or `ref` in the compose file)");
  const repoMode = str(options.repoMode) ?? config["repo-mode"];
  if (repoMode !== undefined && repoMode !== "bare" && repoMode !== "archive") throw usageError(`--repo-mode must be bare or archive, not '${repoMode}'`);
  const metadata: Record<string, MetadataValue> = { ...(config.metadata ?? {}) };
  for (const m of toList(options.metadata)) {
    try {
      const [k, v] = parseMetadataFlag(m);
      if (!METADATA_KEY.test(k)) throw new Error(`invalid --metadata key '${k}': letters, digits, '.', '_' and '-' only`);
      metadata[k] = v;
    } catch (error) {
      throw usageError((error as Error).message);
    }
  }
  for (const key of Object.keys(metadata)) {
    // What compose computes would silently win; ostree.ref-binding from the user would break `ostree pull`.
    if (isComputedMetadataKey(key)) {
      throw usageError(`metadata key '${key}' is set by compose${key === "version" ? " (use --commit-version)" : ""}`);
    }
  }
  const version = str(options.commitVersion) ?? config.version;
  if (version !== undefined && !version.trim()) throw usageError("--commit-version must not be empty");
  const warnings: string[] = [];
  return {
    warnings,
    repo,
    ref: ref ?? "",
    repoMode,
    force: Boolean(options.force),
    version,
    metadata,
    warn: (line) => {
      warnings.push(line);
      ctx.warn(`warning: ${line}`);
    },
  };
}

/** `warnings`: what the run warned about (on stderr as it happened), for --json too. */
function print(result: ComposeResult, json: boolean, ctx: CliContext, warnings: string[]): void {
  if (json) ctx.out(JSON.stringify({ ...result, warnings }, null, 2));
  else ctx.out(result.checksum);
}

async function withProgress<T>(ctx: CliContext, json: boolean, body: (progress: CommonOptions["progress"]) => Promise<T>): Promise<T> {
  const progress = ctx.progress(json);
  try {
    return await body(progress);
  } finally {
    progress.end();
  }
}

/**
 * cac gives a --no-X flag the default true, and its help would print "(default: true)" after a
 * flag that is off by default; the actions test for false only.
 */
function noDefault(command: ReturnType<CAC["command"]>, flag: string): void {
  const option = command.options.find((o) => o.rawName === flag);
  if (!option) throw new Error(`no option ${flag}`);
  option.config.default = undefined;
}

/** `creates`: the command makes the repository when it is missing (base, commit; install and remove need one). */
function commonFlags(command: ReturnType<CAC["command"]>, creates: boolean): void {
  command
    .option("--repo <dir>", creates ? "OSTree repository (created when missing)" : "OSTree repository holding --from")
    // Accepted everywhere, so that one set of flags serves every compose command.
    .option("--repo-mode <mode>", creates ? "mode of a new repository: bare or archive (default bare)" : "mode of a new repository (install and remove need an existing one: no effect)")
    .option("--ref <ref>", "ref to point at the new commit (moved only when everything succeeded)")
    .option("--force", "move --ref even when it exists")
    .option("--commit-version <v>", "commit metadata `version` (default: release.YYYYMMDD)")
    .option("--metadata <key=value>", "extra commit metadata (repeatable)")
    .option("--config <file>", "compose file (JSON, YAML or TOML, by extension): flags given win over it")
    .option("--json", "print {checksum, ref, repo, parent, metadata, warnings} as JSON");
}

export function registerCompose(cli: CAC, ctx: CliContext): void {
  const base = cli.command("base", "Bootstrap a Debian/Ubuntu system with mmdebstrap, reshape it for OSTree, commit it (as root)");
  base
    .option("--release <name>", "bullseye, bookworm, trixie, sid, jammy, noble, questing")
    .option("--arch <arch>", "Debian architecture (default: the host's); foreign ones need qemu-user-static")
    .option("--variant <variant>", "minbase, apt, important or standard (default minbase)")
    .option("--include <pkgs>", "extra packages, comma separated (repeatable)")
    .option("--mirror <url>", "archive mirror (default: the release's own)")
    .option("--components <list>", "archive components, comma separated (default: the release's)")
    .option("--keyring <file>", "keyring that signs the archive")
    .option("--no-updates", "only the release itself: not its -updates and -security suites (which a stable release gets by default)")
    .option("--security-mirror <url>", "archive of the -security suite (default: Debian's http://deb.debian.org/debian-security; Ubuntu's is the --mirror)");
  noDefault(base, "--no-updates");
  commonFlags(base, true);
  base.example("apt-ostree compose base --release bookworm --include systemd,systemd-sysv,linux-image-amd64 --repo /srv/ostree --ref debian/bookworm");
  base.action(async (options: Record<string, unknown>) => {
    const config = await loadConfig(options.config);
    const [{ composeBase }, { hostDebianArch }] = await Promise.all([import("../compose/compose.ts"), import("../arch.ts")]);
    const release = str(options.release) ?? config.release;
    if (!release) throw usageError("--release is required (or `release` in the compose file)");
    const c = await common(options, config, ctx);
    const json = Boolean(options.json);
    const include = await checkPackages(options.include !== undefined ? list(options.include) : (config.packages ?? []), "--include");
    const mirror = checkMirror(str(options.mirror), "--mirror") ?? config.mirror;
    const securityMirror = checkMirror(str(options.securityMirror), "--security-mirror") ?? config["security-mirror"];
    const components = options.components !== undefined ? list(options.components) : config.components;
    const result = await withProgress(ctx, json, (progress) =>
      composeBase({
        ...c,
        progress,
        release,
        arch: str(options.arch) ?? config.arch ?? hostDebianArch(),
        variant: str(options.variant) ?? config.variant ?? "minbase",
        include,
        mirror,
        components,
        keyring: str(options.keyring) ?? config.keyring,
        // cac turns --no-updates into updates: false
        updates: options.updates === false ? false : (config.updates ?? true),
        securityMirror,
      }),
    );
    print(result, json, ctx, c.warnings);
  });

  for (const action of ["install", "remove"] as const) {
    const cmd = cli.command(`${action} [...packages]`, action === "install"
      ? "Install packages with apt on top of a commit; commits a child of --from (as root)"
      : "Remove packages with apt from a commit; commits a child of --from (as root)");
    cmd.option("--from <ref>", "the commit (ref or checksum) to start from");
    if (action === "install") {
      cmd.option("--no-install-recommends", "do not install recommended packages (installed by default, as apt does)");
      noDefault(cmd, "--no-install-recommends");
    }
    else {
      cmd.option("--purge", "also remove configuration files");
      cmd.option("--autoremove", "also remove the packages installed as dependencies that nothing needs any more");
    }
    commonFlags(cmd, false);
    cmd.action(async (packages: string[], options: Record<string, unknown>) => {
      const config = await loadConfig(options.config);
      const { composeApt } = await import("../compose/compose.ts");
      const from = str(options.from);
      if (!from) throw usageError("--from is required");
      const c = await common(options, config, ctx);
      const pkgs = await checkPackages(packages.length ? packages.flatMap((p) => p.split(",")).filter(Boolean) : (config.packages ?? []), "the packages");
      const json = Boolean(options.json);
      const result = await withProgress(ctx, json, (progress) =>
        composeApt({
          ...c,
          progress,
          action,
          packages: pkgs,
          from,
          // cac turns --no-X into X: false
          noInstallRecommends: options.installRecommends === false,
          purge: Boolean(options.purge),
          autoremove: Boolean(options.autoremove),
          fileRelease: config.release,
          fileArch: config.arch,
        }),
      );
      print(result, json, ctx, c.warnings);
    });
  }

  const commit = cli.command("commit", "Reshape a root filesystem you built (directory or tarball) and commit it (as root)");
  commit
    .option("--rootfs <dir|tar>", "the root filesystem: a directory (left untouched) or a tarball")
    .option("--release <name>", "release recorded in the metadata (default: from os-release)")
    .option("--arch <arch>", "architecture recorded in the metadata (default: dpkg's)")
    .option("--variant <variant>", "variant recorded in the metadata");
  commonFlags(commit, true);
  commit.action(async (options: Record<string, unknown>) => {
    const config = await loadConfig(options.config);
    const { composeCommit } = await import("../compose/compose.ts");
    const rootfs = str(options.rootfs);
    if (!rootfs) throw usageError("--rootfs is required");
    const c = await common(options, config, ctx);
    const json = Boolean(options.json);
    const result = await withProgress(ctx, json, (progress) =>
      composeCommit({
        ...c,
        progress,
        rootfs,
        release: str(options.release) ?? config.release,
        arch: str(options.arch) ?? config.arch,
        variant: str(options.variant) ?? config.variant,
      }),
    );
    print(result, json, ctx, c.warnings);
  });
}

export const composeGroup: CommandGroup = {
  name: "compose",
  summary: "build Debian/Ubuntu systems with mmdebstrap and commit them to OSTree (as root)",
  register(cli, ctx) {
    registerCompose(cli, ctx);
  },
};
