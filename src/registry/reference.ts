// Image references: `docker://HOST[:PORT]/REPO[:TAG][@DIGEST]`, `HOST/REPO:TAG`, Docker Hub short
// names. Pure: no I/O.

export const DOCKER_HUB = "docker.io";
export const DOCKER_HUB_ENDPOINT = "registry-1.docker.io";
/** The key Docker writes for Docker Hub in config.json. */
export const DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/";

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const DIGEST_LENGTHS: Record<string, number> = { sha256: 64, sha512: 128 };
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export interface Reference {
  /** As users and auth files name it: `docker.io`, `localhost:5000`, `ghcr.io`. */
  registry: string;
  /** `library/debian`, `team/app`. */
  repository: string;
  tag?: string;
  digest?: string;
}

export class ReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReferenceError";
  }
}

/** Whether a string looks like a registry reference rather than a local path. */
export function looksLikeRegistryReference(text: string): boolean {
  return text.startsWith("docker://");
}

/**
 * Whether the text names only a registry, no repository: `127.0.0.1:5000`, `ghcr.io`, `localhost`,
 * `[::1]:5000` (a host with a dot, localhost or an IPv6 address, an optional port, no slash).
 * Docker would read `localhost:5000` as Docker Hub's library/localhost with tag 5000, which nobody
 * means; `debian:12` stays an image.
 */
export function isRegistryHost(input: string): boolean {
  const text = input.trim().replace(/^docker:\/\//, "").replace(/\/+$/, "");
  if (!text || text.includes("/") || text.includes("@") || !HOST.test(text)) return false;
  const host = hostOnly(text);
  return host.includes(".") || host === "localhost" || host.startsWith("[");
}

/** Parses a registry reference. `defaultTag` is applied when there is neither tag nor digest. */
export function parseReference(input: string, defaultTag: string | null = "latest"): Reference {
  let text = input.trim();
  if (text.startsWith("docker://")) text = text.slice("docker://".length);
  if (text.startsWith("//")) text = text.slice(2);
  if (!text) throw new ReferenceError(`invalid image reference '${input}': empty`);
  let digest: string | undefined;
  const at = text.indexOf("@");
  if (at >= 0) {
    digest = text.slice(at + 1);
    text = text.slice(0, at);
    if (!DIGEST.test(digest)) throw new ReferenceError(`invalid image reference '${input}': bad digest '${digest}'`);
    // The algorithms registries serve, with their lengths: anything else cannot name a manifest
    // (a registry answers it with a 500 that would be retried).
    const [algorithm, hex] = digest.split(":") as [string, string];
    const length = DIGEST_LENGTHS[algorithm];
    if (length === undefined) throw new ReferenceError(`invalid image reference '${input}': unsupported digest algorithm '${algorithm}' (sha256 or sha512)`);
    if (!new RegExp(`^[a-f0-9]{${length}}$`).test(hex)) throw new ReferenceError(`invalid image reference '${input}': a ${algorithm} digest is ${length} lowercase hex digits`);
  }
  let tag: string | undefined;
  const lastSlash = text.lastIndexOf("/");
  const lastColon = text.lastIndexOf(":");
  if (lastColon > lastSlash) {
    tag = text.slice(lastColon + 1);
    text = text.slice(0, lastColon);
    if (!TAG.test(tag)) throw new ReferenceError(`invalid image reference '${input}': bad tag '${tag}'`);
  }
  let registry = DOCKER_HUB;
  let repository = text;
  const slash = text.indexOf("/");
  if (slash >= 0) {
    const first = text.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("[") || /[A-Z]/.test(first)) {
      registry = first;
      repository = text.slice(slash + 1);
    }
  }
  if (!HOST.test(registry)) throw new ReferenceError(`invalid image reference '${input}': bad registry '${registry}'`);
  registry = normalizeRegistry(registry);
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  if (!REPOSITORY.test(repository) || repository.length > 255) {
    throw new ReferenceError(`invalid image reference '${input}': repository name '${repository}' must be lowercase letters, digits and separators`);
  }
  if (!tag && !digest && defaultTag) tag = defaultTag;
  return { registry, repository, tag, digest };
}

/**
 * The original design's push form `SRC HOST NAME:TAG` (`localhost:5000 demo:latest`), or the one-
 * argument form. Returns the joined reference text.
 */
export function joinHostAndName(host: string, name: string): string {
  const h = host.replace(/^docker:\/\//, "").replace(/\/+$/, "");
  return `${h}/${name.replace(/^\/+/, "")}`;
}

/** `index.docker.io`, `registry-1.docker.io` and `docker.io` all mean Docker Hub. */
export function normalizeRegistry(host: string): string {
  const lower = host.toLowerCase();
  if (lower === "index.docker.io" || lower === "registry-1.docker.io" || lower === "docker.io") return DOCKER_HUB;
  return host;
}

/** The host (and port) the API is reached on. */
export function endpointHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_ENDPOINT : registry;
}

/** Loopback registries talk plain http by default, like containers tools and Docker. */
export function isLoopback(registry: string): boolean {
  const host = hostOnly(registry);
  return host === "localhost" || host.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(host) || host === "[::1]" || host === "::1";
}

export function hostOnly(registry: string): string {
  if (registry.startsWith("[")) return registry.slice(0, registry.indexOf("]") + 1);
  const colon = registry.lastIndexOf(":");
  return colon >= 0 ? registry.slice(0, colon) : registry;
}

export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The tag or digest to address the manifest by. */
export function manifestReference(ref: Reference): string {
  return ref.digest ?? ref.tag ?? "latest";
}
