// Structured registry errors and their mapping to one-line user errors. Pure: no I/O.
import { ExitCode, UserError, oneLine } from "../errors.ts";

export interface OciErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

/** Parses `{"errors":[{"code","message","detail"}]}`; anything else gives an empty list. */
export function parseErrorBody(body: string | undefined): OciErrorEntry[] {
  if (!body) return [];
  try {
    const json = JSON.parse(body) as { errors?: unknown };
    if (!json || !Array.isArray(json.errors)) return [];
    return json.errors
      .filter((e): e is Record<string, unknown> => typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string")
      .map((e) => ({ code: String(e.code), message: typeof e.message === "string" ? e.message : undefined, detail: e.detail }));
  } catch {
    return [];
  }
}

/** A URL fit for messages: no credentials, no query (upload state, signed-URL tokens). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    const hadQuery = u.search.length > 0;
    u.search = "";
    u.hash = "";
    return u.toString() + (hadQuery ? "?…" : "");
  } catch {
    return url.replace(/\?.*$/, "?…");
  }
}

/**
 * `config`: the caller's input is invalid (a malformed --creds value, an auth file that is not JSON);
 * `not-found`: something the caller named is not there (an auth file, a platform of an image).
 */
export type RegistryErrorKind = "http" | "network" | "tls" | "auth" | "digest" | "protocol" | "config" | "not-found";

export class RegistryError extends Error {
  readonly kind: RegistryErrorKind;
  readonly status?: number;
  readonly codes: OciErrorEntry[];
  readonly method?: string;
  /** Redacted. */
  readonly url?: string;
  readonly retryable: boolean;
  /** Milliseconds the server asked us to wait (Retry-After). */
  readonly retryAfterMs?: number;
  readonly registry?: string;
  readonly repository?: string;
  /** A network error where nothing answered: the connection itself failed (refused, no such name, no route). */
  readonly noConnection: boolean;
  /** The option that gives this registry's credentials, for hints (default --creds). */
  readonly credentialFlag?: string;
  /** A TLS failure with CAs from this --cert-dir. */
  readonly certDir?: string;

  constructor(
    message: string,
    init: {
      kind: RegistryErrorKind;
      status?: number;
      codes?: OciErrorEntry[];
      method?: string;
      url?: string;
      retryable?: boolean;
      retryAfterMs?: number;
      registry?: string;
      repository?: string;
      noConnection?: boolean;
      credentialFlag?: string;
      certDir?: string;
      cause?: unknown;
    },
  ) {
    super(message, { cause: init.cause });
    this.name = "RegistryError";
    this.kind = init.kind;
    this.status = init.status;
    this.codes = init.codes ?? [];
    this.method = init.method;
    this.url = init.url ? redactUrl(init.url) : undefined;
    this.retryable = init.retryable ?? false;
    this.retryAfterMs = init.retryAfterMs;
    this.registry = init.registry;
    this.repository = init.repository;
    this.noConnection = init.noConnection ?? false;
    this.credentialFlag = init.credentialFlag;
    this.certDir = init.certDir;
  }

  hasCode(code: string): boolean {
    return this.codes.some((c) => c.code === code);
  }
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** Builds the error for an HTTP answer we did not expect. */
export function httpError(
  status: number,
  body: string | undefined,
  ctx: { method: string; url: string; registry?: string; repository?: string; retryAfterMs?: number; what?: string; credentialFlag?: string },
): RegistryError {
  const codes = parseErrorBody(body);
  const detail = codes.length
    ? codes.map((c) => `${c.code}${c.message ? `: ${c.message}` : ""}`).join("; ")
    : (body ?? "").replace(/\s+/g, " ").trim().slice(0, 200);
  const message = `${ctx.what ? `${ctx.what}: ` : ""}${ctx.method} ${redactUrl(ctx.url)} answered ${status}${detail ? ` (${detail})` : ""}`;
  return new RegistryError(message, {
    kind: "http",
    status,
    codes,
    method: ctx.method,
    url: ctx.url,
    retryable: isRetryableStatus(status),
    retryAfterMs: ctx.retryAfterMs,
    registry: ctx.registry,
    repository: ctx.repository,
    credentialFlag: ctx.credentialFlag,
  });
}

/** Failed connections by error code, in words: the runtime's own texts ramble ("Is the computer able to access the url?"). */
const CONNECT_FAILURES: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ConnectionRefused: "connection refused",
  ENOTFOUND: "name does not resolve",
  EAI_NONAME: "name does not resolve",
  EAI_AGAIN: "name does not resolve (temporary DNS failure)",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network unreachable",
};

/** Classifies errors thrown by fetch (resets, refused connections, TLS, timeouts). */
export function networkError(error: unknown, ctx: { method: string; url: string; registry?: string; certDir?: string }): RegistryError {
  if (error instanceof RegistryError) return error;
  const e = error as { code?: string; message?: string; name?: string };
  const code = e?.code ?? "";
  const text = `${code} ${e?.message ?? String(error)}`;
  const tls = /CERT|SSL|TLS|certificate|self[- ]signed|UNABLE_TO_VERIFY|DEPTH_ZERO|HOSTNAME|ERR_TLS/i.test(text);
  const refused = Object.hasOwn(CONNECT_FAILURES, code) ? CONNECT_FAILURES[code] : undefined;
  if (refused && !tls) {
    // One short line: where we could not connect and why (the host of the URL: a token realm may be elsewhere).
    return new RegistryError(`cannot connect to ${hostOf(ctx.url) ?? ctx.registry ?? "the registry"}: ${refused}`, {
      kind: "network",
      method: ctx.method,
      url: ctx.url,
      // A name that does not resolve will not in the next few seconds; a refused port may (a registry restarting).
      retryable: code !== "ENOTFOUND" && code !== "EAI_NONAME",
      registry: ctx.registry,
      noConnection: true,
      cause: error,
    });
  }
  const timeout = e?.name === "TimeoutError" || /timed? ?out|ETIMEDOUT/i.test(text);
  const kind: RegistryErrorKind = tls ? "tls" : "network";
  // Bun's fetch errors end in advice for its own users ("Is the computer able to access the url?",
  // "For more information, pass `verbose: true` ..."): not ours to give.
  const what = tls ? "TLS failure" : timeout ? "timed out" : (e?.message ?? String(error)).replace(/\s*Is the computer able to access the url\?/i, "").replace(/\s*For more information, pass `verbose: true`.*$/is, "").replace(/\s+/g, " ");
  return new RegistryError(`${ctx.method} ${redactUrl(ctx.url)}: ${what}${code && !what.includes(code) ? ` (${code})` : ""}`, {
    kind,
    method: ctx.method,
    url: ctx.url,
    retryable: !tls,
    registry: ctx.registry,
    ...(tls && ctx.certDir ? { certDir: ctx.certDir } : {}),
    cause: error,
  });
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** `:TAG` or `@DIGEST` of a manifest URL (`/v2/NAME/manifests/REF`), for messages. */
function manifestRefOf(url: string | undefined): string {
  const ref = /\/manifests\/([^/?#]+)/.exec(url ?? "")?.[1];
  if (!ref) return "";
  // A tag cannot hold a colon; a digest always does.
  return ref.includes(":") ? `@${ref}` : `:${ref}`;
}

/** What went wrong in a TLS handshake, in words: the error's own message says "TLS failure" and its code. */
const TLS_REASONS: Record<string, string> = {
  ERR_TLS_CERT_ALTNAME_INVALID: "its certificate is not for this host name",
  DEPTH_ZERO_SELF_SIGNED_CERT: "its certificate is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "its certificate chain ends in an unknown self-signed CA",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "its certificate is signed by an unknown CA",
  UNABLE_TO_GET_ISSUER_CERT: "its certificate is signed by an unknown CA",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "its certificate is signed by an unknown CA",
  CERT_HAS_EXPIRED: "its certificate has expired",
  CERT_NOT_YET_VALID: "its certificate is not valid yet",
};

function tlsReason(error: RegistryError): string {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const code = typeof cause?.code === "string" ? cause.code : /\(([A-Z_]+)\)/.exec(error.message)?.[1];
  if (code && TLS_REASONS[code]) return `${TLS_REASONS[code]} (${code})`;
  if (code) return code;
  return typeof cause?.message === "string" && cause.message ? oneLine(cause.message) : error.message;
}

/** One clear line for the user, with the exit code that says what kind of failure it was. */
export function toUserError(error: unknown): unknown {
  if (!(error instanceof RegistryError)) return error;
  const where = error.registry ? `${error.registry}${error.repository ? `/${error.repository}` : ""}` : "the registry";
  const codes = new Set(error.codes.map((c) => c.code));
  const serverSays = error.codes.length ? ` (${error.codes.map((c) => `${c.code}${c.message ? `: ${c.message}` : ""}`).join("; ")})` : "";
  if (error.kind === "tls" && /\bEPROTO\b|wrong version number|packet length too long|unknown protocol/i.test(`${error.message} ${String((error.cause as { code?: string } | undefined)?.code ?? "")} ${String((error.cause as Error | undefined)?.message ?? "")}`)) {
    // What a plain http server answers a TLS hello with (or a proxy that does not speak TLS).
    return new UserError(`${error.registry ?? "the registry"} did not answer in TLS: is it a plain http registry? (--tls-verify=false allows http)`, ExitCode.Network, { cause: error });
  }
  if (error.kind === "tls") {
    // With --cert-dir given, suggesting it again would not help: point at what it holds.
    const hint = error.certDir ? `check that the CAs in ${error.certDir} signed its certificate, or --tls-verify=false` : "use --cert-dir for a private CA, or --tls-verify=false";
    return new UserError(`TLS failure talking to ${error.registry ?? "the registry"}: ${tlsReason(error)} (${hint})`, ExitCode.Network, { cause: error });
  }
  if (error.kind === "network" && error.noConnection) return new UserError(error.message, ExitCode.Network, { cause: error });
  if (error.kind === "network") {
    return new UserError(`registry ${error.registry ?? ""} unreachable: ${error.message}`.replace("  ", " "), ExitCode.Network, { cause: error });
  }
  if (error.kind === "auth") return new UserError(error.message, ExitCode.Auth, { cause: error });
  if (error.kind === "config") return new UserError(error.message, ExitCode.Usage, { cause: error });
  if (error.kind === "not-found") return new UserError(error.message, ExitCode.NotFound, { cause: error });
  if (error.status === 401 || (codes.has("UNAUTHORIZED") && error.status !== 403)) {
    return new UserError(`authentication to ${error.registry ?? "the registry"} failed: wrong or missing credentials${serverSays} (try 'apt-ostree login ${error.registry ?? "HOST"}' or ${error.credentialFlag ?? "--creds"})`, ExitCode.Auth, { cause: error });
  }
  if (error.status === 403 || codes.has("DENIED")) {
    return new UserError(`access to ${where} denied: no ${error.method === "GET" || error.method === "HEAD" ? "pull" : "push"} right${serverSays}`, ExitCode.Auth, { cause: error });
  }
  if (codes.has("NAME_INVALID")) return new UserError(`invalid repository name ${where}${serverSays}`, ExitCode.Usage, { cause: error });
  if (codes.has("NAME_UNKNOWN")) return new UserError(`unknown repository ${where}${serverSays}`, ExitCode.NotFound, { cause: error });
  if (codes.has("MANIFEST_UNKNOWN") || (error.status === 404 && /manifests/.test(error.url ?? ""))) {
    return new UserError(`image not found: ${where}${manifestRefOf(error.url)}${serverSays}`, ExitCode.NotFound, { cause: error });
  }
  if (error.status === 404) return new UserError(`not found: ${error.message}`, ExitCode.NotFound, { cause: error });
  if (error.retryable) return new UserError(`registry ${where} kept failing: ${error.message}`, ExitCode.Network, { cause: error });
  return new UserError(error.message, ExitCode.Failure, { cause: error });
}
