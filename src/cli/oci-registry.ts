// `apt-ostree oci push|pull|copy|inspect|tags`: binds flags to the registry client (src/registry)
// and prints results: the digest (or JSON with --json) on stdout, diagnostics on stderr.
import type { CAC } from "cac";
import { usageError } from "../errors.ts";
import type { CliContext } from "./context.ts";

export interface RegistryFlags {
  creds?: string;
  srcCreds?: string;
  destCreds?: string;
  authfile?: string;
  srcAuthfile?: string;
  destAuthfile?: string;
  certDir?: string;
  tlsVerify?: unknown;
  srcTlsVerify?: unknown;
  destTlsVerify?: unknown;
  jobs?: unknown;
  json?: boolean;
  arch?: string;
  os?: string;
  variant?: string;
  all?: boolean;
  force?: boolean;
  raw?: boolean;
  config?: boolean;
  chunkSize?: unknown;
  retries?: unknown;
  pageSize?: unknown;
}

/** `--tls-verify`, `--tls-verify=false`, `--tls-verify false`. */
export function parseBool(value: unknown, flag: string, fallback = true): boolean {
  if (value === undefined || value === null) return fallback;
  if (value === true || value === "" || value === "true" || value === "1") return true;
  if (value === false || value === "false" || value === "0") return false;
  throw usageError(`${flag} expects true or false, got '${String(value)}'`);
}

export function parseJobs(value: unknown): number {
  if (value === undefined) return 4;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw usageError(`--jobs expects a whole number from 1 to 64, got '${String(value)}'`);
  return n;
}

/** `64MiB`, `1G`, `1048576`. */
export function parseSize(value: unknown, flag: string): number {
  const m = /^(\d+)\s*([KMG]i?B?|B)?$/i.exec(String(value).trim());
  if (!m) throw usageError(`${flag} expects a size such as 64MiB, got '${String(value)}'`);
  const unit = (m[2] ?? "").toUpperCase().replace(/I?B$/, "").replace(/^B$/, "");
  const mult = unit === "K" ? 1024 : unit === "M" ? 1024 ** 2 : unit === "G" ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}

function commonOptions(cmd: ReturnType<CAC["command"]>, kind: "one" | "copy" = "one") {
  if (kind === "copy") {
    cmd.option("--src-creds <user:pass>", "credentials for the source registry");
    cmd.option("--dest-creds <user:pass>", "credentials for the destination registry");
    cmd.option("--src-tls-verify [bool]", "verify the source's TLS certificate (false: also allows plain http)");
    cmd.option("--dest-tls-verify [bool]", "verify the destination's TLS certificate");
  } else {
    cmd.option("--creds <user:pass>", "credentials (otherwise: auth files, credential helpers, anonymous)");
  }
  cmd.option("--authfile <path>", "containers auth file to read credentials from");
  cmd.option("--cert-dir <dir>", "directory with CA certificates (*.crt) and a client certificate (*.cert, *.key) (default: /etc/containers/certs.d/HOST:PORT if there)");
  cmd.option("--tls-verify [bool]", "verify TLS certificates; --tls-verify=false also allows plain http (default: true; a loopback registry is tried over http, then https, unverified unless --cert-dir is given)");
  cmd.option("--json", "print the result as JSON");
  return cmd;
}

export function registerRegistryCommands(cli: CAC, ctx: CliContext): void {
  commonOptions(
    cli
      .command("push <src> <dest> [name]", "Push a local image (OCI layout, oci-archive, docker-archive) to a registry")
      .option("--jobs <n>", "blobs in flight at once (default 4)")
      .option("--chunk-size <size>", "upload blobs at least this large in chunks of this size (default: chunks of 256 MiB above 2 GiB)")
      .example("apt-ostree oci push oci:/tmp/demo-image.oci:latest docker://localhost:5000/demo:latest")
      .example("apt-ostree oci push /tmp/demo-image.oci localhost:5000 demo:latest"),
  ).action(async (src: string, dest: string, name: string | undefined, flags: RegistryFlags) => (await import("../registry/commands.ts")).push(ctx, src, dest, name, flags));

  commonOptions(
    cli
      .command("pull <src> <dest>", "Pull a registry image into an OCI layout, oci-archive or docker-archive")
      .option("--arch <arch>", "platform of a multi-arch image, Debian name (default: the host's)")
      .option("--os <os>", "operating system of a multi-arch image (default: linux)")
      .option("--variant <variant>", "platform variant (v7, v8)")
      .option("--all", "keep every platform of a multi-arch image")
      .option("--jobs <n>", "blobs in flight at once (default 4)")
      .option("--force", "replace an existing output")
      .example("apt-ostree oci pull docker://localhost:5000/demo:latest oci:/tmp/demo.oci:latest"),
  ).action(async (src: string, dest: string, flags: RegistryFlags) => (await import("../registry/commands.ts")).pull(ctx, src, dest, flags));

  commonOptions(
    cli
      .command("copy <src> <dest>", "Copy an image between registries (mounts blobs within one registry), to or from a local image (then as push or pull), or between local images and formats")
      .option("--jobs <n>", "blobs in flight at once (default 4)")
      .option("--arch <arch>", "platform of a multi-arch image to copy (default: to a local image the host's, to a registry every platform)")
      .option("--all", "to a local image: keep every platform (a registry gets every platform unless --arch)")
      .option("--force", "to a local image: replace an existing output")
      .example("apt-ostree oci copy docker://localhost:5000/a:1 docker://localhost:5000/b:1")
      .example("apt-ostree oci copy oci:/tmp/demo-image.oci:latest docker://localhost:5000/demo:latest")
      .example("apt-ostree oci copy oci:/tmp/demo-image.oci:latest docker-archive:/tmp/demo.tar:demo:latest"),
    "copy",
  ).action(async (src: string, dest: string, flags: RegistryFlags) => (await import("../registry/commands.ts")).copy(ctx, src, dest, flags));

  commonOptions(
    cli
      .command("inspect <ref>", "Show an image in a registry, or a local one (oci:, oci-archive:, docker-archive:, or a path): digest, media type, platforms, layers, labels")
      .option("--raw", "print the manifest (or index) bytes exactly as the registry has them")
      .option("--config", "print the image configuration")
      .option("--arch <arch>", "platform to describe, Debian name; an image without it is an error (default: the host's)")
      .option("--os <os>", "operating system (default: linux)")
      .option("--variant <variant>", "platform variant")
      .example("apt-ostree oci inspect docker://localhost:5000/demo:latest")
      .example("apt-ostree oci inspect oci:/tmp/demo-image.oci:latest --json")
      .example("apt-ostree oci inspect ./demo.tar"),
  ).action(async (ref: string, flags: RegistryFlags) => (await import("../registry/commands.ts")).inspect(ctx, ref, flags));

  commonOptions(cli.command("tags <repo>", "List a repository's tags (all pages)").option("--page-size <n>", "tags asked for per request (default 1000)")).action(async (repo: string, flags: RegistryFlags) =>
    (await import("../registry/commands.ts")).tags(ctx, repo, flags),
  );
}


