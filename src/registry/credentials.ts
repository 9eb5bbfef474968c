// Where credentials come from, in the order containers tools use: --creds / --authfile,
// $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json (/run/containers/UID/auth.json
// without that variable), ~/.config/containers/auth.json,
// $DOCKER_CONFIG/config.json or ~/.docker/config.json (auths, identitytoken, credHelpers,
// credsStore). Parsing is pure; reading files and running helpers is kept at the edges.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { DOCKER_HUB, DOCKER_HUB_CONFIG_KEY, normalizeRegistry } from "./reference.ts";
import { RegistryError } from "./errors.ts";

export type Credential =
  | { kind: "anonymous" }
  | { kind: "basic"; username: string; password: string }
  /** An identity (refresh) token: OAuth2 POST to the token realm. */
  | { kind: "identity"; username?: string; token: string };

export const anonymous: Credential = { kind: "anonymous" };

export interface AuthFile {
  auths: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  credHelpers: Record<string, string>;
  credsStore?: string;
}

export function parseAuthFile(text: string, path = "auth file"): AuthFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Without the parser's detail: it quotes the text around the fault, which may be a secret.
    throw new RegistryError(`${path} is not valid JSON`, { kind: "config" });
  }
  const obj = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
  const auths = (obj.auths && typeof obj.auths === "object" ? obj.auths : {}) as AuthFile["auths"];
  const credHelpers = (obj.credHelpers && typeof obj.credHelpers === "object" ? obj.credHelpers : {}) as Record<string, string>;
  const credsStore = typeof obj.credsStore === "string" && obj.credsStore ? obj.credsStore : undefined;
  return { auths, credHelpers, credsStore };
}

/** `https://index.docker.io/v1/` → `docker.io`; `https://host:5000/v2/` → `host:5000`; `host/ns/repo` kept. */
export function normalizeAuthKey(key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, "");
  const slash = k.indexOf("/");
  let host = slash >= 0 ? k.slice(0, slash) : k;
  let path = slash >= 0 ? k.slice(slash + 1) : "";
  host = normalizeRegistry(host);
  path = path.replace(/\/+$/, "");
  if (/^v[12]$/.test(path) || /^v1\/$/.test(path)) path = "";
  k = path ? `${host}/${path}` : host;
  return k;
}

/** Keys to try, most specific first: `host/ns/repo`, `host/ns`, `host`. */
export function lookupKeys(registry: string, repository?: string): string[] {
  const keys: string[] = [];
  if (repository) {
    const parts = repository.split("/");
    for (let n = parts.length; n >= 1; n--) keys.push(`${registry}/${parts.slice(0, n).join("/")}`);
  }
  keys.push(registry);
  return keys;
}

export function decodeAuthEntry(entry: AuthFile["auths"][string], where: string): Credential | undefined {
  if (entry.identitytoken) {
    let username: string | undefined;
    if (entry.auth) username = Buffer.from(entry.auth, "base64").toString("utf8").split(":")[0];
    return { kind: "identity", username, token: entry.identitytoken };
  }
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new RegistryError(`the entry for ${where} has an invalid 'auth' field`, { kind: "config" });
    return { kind: "basic", username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/\n$/, "") };
  }
  if (entry.username && entry.password) return { kind: "basic", username: entry.username, password: entry.password };
  return undefined;
}

export type Lookup =
  | { found: "credential"; credential: Credential; source: string }
  | { found: "helper"; helper: string; serverUrl: string; source: string }
  | { found: "none" };

/** Finds the entry for a registry in one parsed file. Pure. */
export function findInAuthFile(file: AuthFile, registry: string, repository: string | undefined, source: string, isDockerConfig: boolean): Lookup {
  const reg = normalizeRegistry(registry);
  const serverUrl = reg === DOCKER_HUB ? DOCKER_HUB_CONFIG_KEY : reg;
  for (const [key, helper] of Object.entries(file.credHelpers)) {
    if (normalizeAuthKey(key) === reg && helper) return { found: "helper", helper, serverUrl, source };
  }
  const normalized = new Map<string, AuthFile["auths"][string]>();
  for (const [key, value] of Object.entries(file.auths)) {
    const nk = normalizeAuthKey(key);
    // exact keys win over normalised duplicates
    if (!normalized.has(nk) || key === nk) normalized.set(nk, value ?? {});
  }
  for (const key of lookupKeys(reg, repository)) {
    const entry = normalized.get(key);
    if (!entry) continue;
    const credential = decodeAuthEntry(entry, key);
    if (credential) return { found: "credential", credential, source };
  }
  if (isDockerConfig && file.credsStore) return { found: "helper", helper: file.credsStore, serverUrl, source };
  return { found: "none" };
}

export interface CredentialOptions {
  /** `USER:PASS`. */
  creds?: string;
  authfile?: string;
  env?: Record<string, string | undefined>;
  home?: string;
  /** For /run/containers/UID/auth.json (default: this process's). */
  uid?: number;
}

/**
 * containers-auth.json's runtime file: $XDG_RUNTIME_DIR/containers/auth.json, or without that
 * variable (root on a build host, a service) /run/containers/UID/auth.json, as podman and skopeo
 * read and write it.
 */
function runtimeAuthFile(options: CredentialOptions): string | undefined {
  const env = options.env ?? process.env;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "containers/auth.json");
  const uid = uidOf(options);
  return uid === undefined ? undefined : `/run/containers/${uid}/auth.json`;
}

function uidOf(options: CredentialOptions): number | undefined {
  return options.uid ?? process.getuid?.();
}

/** The files to search, in order, with whether they are Docker config files. */
export function authFileCandidates(options: CredentialOptions): { path: string; docker: boolean }[] {
  const env = options.env ?? process.env;
  const home = options.home ?? env.HOME ?? homedir();
  if (options.authfile) return [{ path: options.authfile, docker: false }];
  const out: { path: string; docker: boolean }[] = [];
  if (env.REGISTRY_AUTH_FILE) out.push({ path: env.REGISTRY_AUTH_FILE, docker: false });
  const runtime = runtimeAuthFile(options);
  if (runtime) out.push({ path: runtime, docker: false });
  out.push({ path: join(env.XDG_CONFIG_HOME || join(home, ".config"), "containers/auth.json"), docker: false });
  out.push({ path: join(env.DOCKER_CONFIG || join(home, ".docker"), "config.json"), docker: true });
  return out;
}

/** The auth file `login` writes and `logout` edits, as podman does. */
export function defaultWriteAuthFile(options: CredentialOptions): string {
  const env = options.env ?? process.env;
  const home = options.home ?? env.HOME ?? homedir();
  if (options.authfile) return options.authfile;
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  // The runtime file where it can be made: with XDG_RUNTIME_DIR, or as root (/run/containers/0,
  // where podman and skopeo log in). Another user without a runtime directory could not create
  // /run/containers: the config directory.
  if (env.XDG_RUNTIME_DIR || uidOf(options) === 0) return runtimeAuthFile(options)!;
  return join(env.XDG_CONFIG_HOME || join(home, ".config"), "containers/auth.json");
}

/** `USER:PASS` (both non-empty; the password may hold colons); undefined when it is not that. */
export function parseCredsFlag(creds: string): Extract<Credential, { kind: "basic" }> | undefined {
  const colon = creds.indexOf(":");
  if (colon <= 0 || colon === creds.length - 1) return undefined;
  return { kind: "basic", username: creds.slice(0, colon), password: creds.slice(colon + 1) };
}

/**
 * The places that may hold the credential for a registry, in order, up to the first that holds
 * it: auth files are read (and a bad one is an error) now; helpers are only named, to run later.
 */
export function credentialLookups(registry: string, repository: string | undefined, options: CredentialOptions): Exclude<Lookup, { found: "none" }>[] {
  if (options.creds !== undefined) {
    // Never the value in the message: it holds the password.
    const credential = parseCredsFlag(options.creds);
    if (!credential) throw new RegistryError("--creds must be USERNAME:PASSWORD", { kind: "config" });
    return [{ found: "credential", credential, source: "--creds" }];
  }
  const lookups: Exclude<Lookup, { found: "none" }>[] = [];
  for (const candidate of authFileCandidates(options)) {
    if (!existsSync(candidate.path)) {
      if (options.authfile) throw new RegistryError(`auth file ${candidate.path} does not exist`, { kind: "not-found" });
      continue;
    }
    let text: string;
    try {
      text = readFileSync(candidate.path, "utf8");
    } catch (error) {
      // A directory, no permission: the OS's reason (no content of the file can be in it).
      const reason = (error as NodeJS.ErrnoException).code === "EISDIR" ? "is a directory" : (error as NodeJS.ErrnoException).code === "EACCES" ? "permission denied" : String((error as Error).message);
      throw new RegistryError(`cannot read auth file ${candidate.path}: ${reason}`, { kind: "config" });
    }
    const found = findInAuthFile(parseAuthFile(text, candidate.path), registry, repository, candidate.path, candidate.docker);
    if (found.found === "none") continue;
    lookups.push(found);
    if (found.found === "credential") break;
  }
  return lookups;
}

/** Takes the first credential of `lookups`, running helpers in turn; anonymous when none has one. */
export async function runLookups(lookups: Exclude<Lookup, { found: "none" }>[], env?: Record<string, string | undefined>): Promise<{ credential: Credential; source: string }> {
  for (const found of lookups) {
    if (found.found === "credential") return { credential: found.credential, source: found.source };
    const credential = await runCredentialHelper(found.helper, found.serverUrl, env);
    if (credential) return { credential, source: `docker-credential-${found.helper}` };
  }
  return { credential: anonymous, source: "anonymous" };
}

/** Resolves the credential for a registry, running a credential helper if one is configured. */
export async function resolveCredential(registry: string, repository: string | undefined, options: CredentialOptions): Promise<{ credential: Credential; source: string }> {
  return runLookups(credentialLookups(registry, repository, options), options.env);
}

/** Parses a helper's `get` answer. Pure. */
export function parseHelperOutput(text: string): Credential | undefined {
  const json = JSON.parse(text) as { Username?: string; Secret?: string };
  if (!json.Secret) return undefined;
  if (json.Username === "<token>") return { kind: "identity", token: json.Secret };
  return { kind: "basic", username: json.Username ?? "", password: json.Secret };
}

/** How long a credential helper may take (a keychain or gpg prompt nobody answers). */
export const HELPER_TIMEOUT_MS = 30_000;

/**
 * `docker-credential-NAME get`, server URL on stdin; secrets never in argv. The helper runs in a
 * process group of its own, so that a timeout stops whatever it started too (a shell script's
 * children keep its output open: waiting for it to close would wait for them).
 */
export function runCredentialHelper(name: string, serverUrl: string, env?: Record<string, string | undefined>, timeoutMs = HELPER_TIMEOUT_MS): Promise<Credential | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return Promise.reject(new RegistryError(`invalid credential helper name '${name}'`, { kind: "auth" }));
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, ["get"], { stdio: ["pipe", "pipe", "pipe"], env: (env ?? process.env) as NodeJS.ProcessEnv, detached: true });
    let out = "";
    let err = "";
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      killGroup();
      settle(() => reject(new RegistryError(`credential helper ${program} timed out after ${Math.round(timeoutMs / 1000)} s`, { kind: "auth" })));
    }, timeoutMs);
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    // A helper that exits without reading the server URL: its stdin is closed (EPIPE), which
    // is no error of ours; its exit status tells.
    child.stdin.on("error", () => undefined);
    child.on("error", (e: NodeJS.ErrnoException) => {
      settle(() => reject(new RegistryError(e.code === "ENOENT" ? `credential helper ${program} is not installed (named in the auth configuration)` : `credential helper ${program} failed: ${e.message}`, { kind: "auth" })));
    });
    child.on("close", (code) => {
      settle(() => {
        if (code !== 0) {
          // docker-credential-helpers' "credentials not found in native keychain": no entry, so
          // anonymous. Any other failure ("pass: command not found") is the helper's own.
          if (/credentials not found/i.test(out + err)) return resolve(undefined);
          return reject(new RegistryError(`credential helper ${program} failed (exit ${code})`, { kind: "auth" }));
        }
        try {
          resolve(parseHelperOutput(out));
        } catch {
          reject(new RegistryError(`credential helper ${program} gave invalid output`, { kind: "auth" }));
        }
      });
    });
    child.stdin.end(serverUrl);
  });
}
