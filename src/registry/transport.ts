// HTTP to one registry: scheme choice, auth (anonymous, Basic, Bearer tokens reused until they
// expire), redirects that never carry Authorization to another host, retries with backoff.
// Runs on Bun (fetch with a `tls` option and streaming bodies).
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readdirSync, readFileSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { interruptRequested } from "../cleanup.ts";
import { parseChallenges, pickChallenge, type Challenge } from "./challenge.ts";
import { anonymous, type Credential } from "./credentials.ts";
import { RegistryError, httpError, isRetryableStatus, networkError, redactUrl } from "./errors.ts";
import { endpointHost, isLoopback } from "./reference.ts";
import { backoffDelay, defaultRetryPolicy, parseRetryAfter, sleep, stallTimeoutMs, type RetryPolicy } from "./retry.ts";
import { versionLine } from "../version.ts";

export interface TlsOptions {
  /** false: https without verification, or plain http; undefined: the default for the host. */
  verify?: boolean;
  /** Directory with *.crt (CAs), *.cert + *.key (client certificate), as containers tools use. */
  certDir?: string;
  /** Where certDir came from, for messages: "--cert-dir" (default) or the certs.d directory's path. */
  certDirFrom?: string;
}

/**
 * The per-registry directories containers tools and Docker read without --cert-dir, first found
 * wins: ~/.config/containers/certs.d/HOST[:PORT] (not for root), /etc/containers/certs.d/...,
 * /etc/docker/certs.d/... .
 */
export function certsDForHost(registry: string, env: Record<string, string | undefined> = process.env, uid = process.getuid?.()): string | undefined {
  const roots = [
    ...(uid !== 0 && env.HOME ? [join(env.XDG_CONFIG_HOME || join(env.HOME, ".config"), "containers/certs.d")] : []),
    "/etc/containers/certs.d",
    "/etc/docker/certs.d",
  ];
  for (const root of roots) {
    const dir = join(root, registry);
    if (statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return dir;
  }
  return undefined;
}

/** --cert-dir, else the registry's certs.d directory if there is one. */
export function withHostCertDir(registry: string, tls: TlsOptions | undefined): TlsOptions | undefined {
  if (tls?.certDir) return tls;
  const dir = certsDForHost(registry);
  return dir ? { ...tls, certDir: dir, certDirFrom: dir } : tls;
}

export interface TransportOptions {
  registry: string;
  /**
   * A credential, or how to look one up: then only when the registry asks for one (a 401), so a
   * broken credential helper does not stop an anonymous registry, and no helper runs for nothing.
   */
  credential: Credential | (() => Promise<Credential>);
  /** Scopes to ask tokens for, e.g. `repository:a/b:pull,push`. */
  scopes: string[];
  tls?: TlsOptions;
  retry?: RetryPolicy;
  /** Called before each retry (for diagnostics); never given secrets. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
  /** Override the scheme (tests). */
  scheme?: "http" | "https";
  /** The option that gives this registry's credentials, for hints ("--creds", copy's "--src-creds"). */
  credentialFlag?: string;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** Called once per attempt: a fresh body each time. */
  body?: () => RequestInit["body"] | undefined;
  /** Statuses that are answers rather than errors. */
  expect: number[];
  /** Retry on resets, timeouts, 408/429/5xx (default true). */
  retry?: boolean;
  /** Milliseconds to wait for the response headers. */
  timeoutMs?: number;
  /** For error messages: "push blob sha256:…". */
  what?: string;
  repository?: string;
}

export interface Answer {
  status: number;
  headers: Headers;
  url: string;
}

const DEFAULT_TIMEOUT = stallTimeoutMs();
const userAgent = () => versionLine().replace(/^apt-ostree /, "apt-ostree/").split(" ")[0]!;

interface Token {
  header: string;
  expiresAt: number;
}

/** The Authorization a response answered (to tell a stale token from a renewed one). */
const sentAuth = new WeakMap<Response, string | undefined>();

type Scheme = { scheme: "http" | "https"; verify: boolean };

/**
 * The schemes to try, in order. Loopback registries: plain http first (then https without
 * verification, as Docker does; with --cert-dir, https verified against it); `--tls-verify=false`:
 * https without verification, then http; otherwise (or with an explicit --tls-verify on loopback)
 * only verified https. Loopback keeps its http with --cert-dir because copy takes one --cert-dir
 * for both sides, which may be a TLS registry and a plain local one.
 */
export function schemesFor(registry: string, tls: TlsOptions | undefined): Scheme[] {
  const explicit = tls?.verify;
  const loopback = isLoopback(registry);
  if (explicit === false) return loopback ? [{ scheme: "http", verify: false }, { scheme: "https", verify: false }] : [{ scheme: "https", verify: false }, { scheme: "http", verify: false }];
  if (explicit === true || (!loopback && tls?.certDir)) return [{ scheme: "https", verify: true }];
  return loopback ? [{ scheme: "http", verify: false }, { scheme: "https", verify: Boolean(tls?.certDir) }] : [{ scheme: "https", verify: true }];
}

export class Transport {
  readonly registry: string;
  private readonly host: string;
  private credential: Credential = anonymous;
  private lookUp: (() => Promise<Credential>) | undefined;
  private lookUpPending: Promise<void> | undefined;
  /** Why the lookup found nothing usable (a failed helper): told when the registry wants credentials. */
  private credentialProblem: string | undefined;
  private readonly scopes: string[];
  private readonly policy: RetryPolicy;
  private readonly onRetry?: TransportOptions["onRetry"];
  private readonly tlsOptions: TlsOptions | undefined;
  private readonly credentialFlag: string;
  private tlsCache: { value: Record<string, unknown> | undefined } | undefined;
  private readonly schemes: Scheme[];
  private schemeIndex = 0;
  /** Once the registry answered, the scheme is settled. */
  private settled = false;
  private challenge: Challenge | undefined;
  private token: Token | undefined;
  private tokenPending: Promise<void> | undefined;

  constructor(options: TransportOptions) {
    this.registry = options.registry;
    this.host = endpointHost(options.registry);
    const tls = withHostCertDir(options.registry, options.tls);
    this.schemes = options.scheme ? [{ scheme: options.scheme, verify: options.scheme === "https" }] : schemesFor(options.registry, tls);
    if (typeof options.credential === "function") this.lookUp = options.credential;
    else this.credential = options.credential;
    this.scopes = options.scopes;
    this.policy = options.retry ?? defaultRetryPolicy;
    this.onRetry = options.onRetry;
    this.tlsOptions = tls;
    this.credentialFlag = options.credentialFlag ?? "--creds";
    // A bad --cert-dir is a configuration error, found before any request (and even when a
    // loopback registry is then reached over plain http).
    if (tls?.certDir) this.tlsCache = { value: tlsConfig(tls) };
  }

  get base(): string {
    return `${this.schemes[this.schemeIndex]!.scheme}://${this.host}`;
  }

  private get tlsVerified(): Record<string, unknown> | undefined {
    this.tlsCache ??= { value: tlsConfig(this.tlsOptions) };
    return this.tlsCache.value;
  }

  private get tls(): Record<string, unknown> | undefined {
    return this.schemes[this.schemeIndex]!.verify ? this.tlsVerified : { ...(this.tlsVerified ?? {}), rejectUnauthorized: false };
  }

  /** Rewrites a URL on our host to the scheme in use (after a fallback). */
  private onCurrentScheme(url: string): string {
    const u = new URL(url);
    if (u.host === new URL(this.base).host && u.protocol !== new URL(this.base).protocol) u.protocol = new URL(this.base).protocol;
    return u.toString();
  }

  /** Before the registry first answered: move on to the next scheme if there is one. */
  private fallBack(): boolean {
    if (this.settled || this.schemeIndex + 1 >= this.schemes.length) return false;
    this.schemeIndex++;
    return true;
  }

  url(path: string): string {
    return new URL(path, this.base).toString();
  }

  /** Adds scopes (e.g. the source repository of a mount); the next token asks for them. */
  addScope(scope: string): void {
    if (!this.scopes.includes(scope)) {
      this.scopes.push(scope);
      this.token = undefined;
    }
  }

  /** Sends a request, reads the whole (small) body. */
  async request(method: string, url: string, options: RequestOptions): Promise<Answer & { body: Uint8Array }> {
    return this.withRetries(method, url, options, async (response) => {
      const body = await readWithTimeout(response, options.timeoutMs ?? DEFAULT_TIMEOUT);
      return { status: response.status, headers: response.headers, url: response.url || url, body };
    });
  }

  /** Sends a request and hands back the streaming response (the caller reads and times the body). */
  async open(method: string, url: string, options: RequestOptions): Promise<Response> {
    return this.withRetries(method, url, options, async (response) => response);
  }

  /** `GET /v2/` with credentials: checks they work (login). */
  async ping(): Promise<void> {
    await this.request("GET", this.url("/v2/"), { expect: [200], what: "check credentials" });
  }

  private async withRetries<T>(method: string, url: string, options: RequestOptions, take: (r: Response) => Promise<T>): Promise<T> {
    const retry = options.retry ?? true;
    for (let attempt = 1; ; attempt++) {
      // After a Ctrl-C only the cleanup's DELETEs go out (the process exits within seconds).
      if (interruptRequested() && method !== "DELETE") throw new RegistryError("interrupted", { kind: "network", registry: this.registry });
      let failure: RegistryError;
      try {
        const response = await this.send(method, url, options);
        if (options.expect.includes(response.status)) return await take(response);
        const text = method === "HEAD" ? "" : await response.text().catch(() => "");
        failure = httpError(response.status, text, {
          method,
          url,
          registry: this.registry,
          repository: options.repository,
          what: options.what,
          retryAfterMs: parseRetryAfter(response.headers.get("retry-after")),
          credentialFlag: this.credentialFlag,
        });
        const granted = this.challenge?.scheme === "bearer" && this.token !== undefined && this.credential.kind !== "anonymous";
        if (response.status === 401 && (granted || /insufficient_scope/i.test(response.headers.get("www-authenticate") ?? "")) && this.credential.kind !== "anonymous") {
          // Authenticated, but the token does not grant what we asked for.
          failure = httpError(403, text, { method, url, registry: this.registry, repository: options.repository, what: options.what, credentialFlag: this.credentialFlag });
        }
        if (response.status === 401 || response.status === 403) throw failure;
      } catch (error) {
        failure = error instanceof RegistryError ? error : networkError(error, { method, url, registry: this.registry, certDir: this.tlsOptions?.certDir });
      }
      if (!retry || !failure.retryable || attempt >= this.policy.attempts) throw failure;
      const delayMs = backoffDelay(this.policy, attempt, failure.retryAfterMs);
      this.onRetry?.({ attempt, delayMs, reason: failure.message });
      await sleep(delayMs);
    }
  }

  /** One attempt: auth (answering one 401 challenge), redirects. */
  private async send(method: string, url: string, options: RequestOptions): Promise<Response> {
    let response = await this.sendFollowing(method, url, options);
    if (response.status === 401 && this.credentialsCanHelp(response)) {
      await response.arrayBuffer().catch(() => undefined);
      const challenge = pickChallenge(parseChallenges(response.headers.get("www-authenticate")));
      if (challenge) {
        this.challenge = challenge;
        // A token for the scope the registry named, besides ours.
        const scope = challenge.params.scope;
        let newScope = false;
        for (const s of (scope ?? "").split(" ")) {
          if (s && !this.scopes.includes(s)) {
            this.scopes.push(s);
            newScope = true;
          }
        }
        // Another request may have renewed the token meanwhile: then just use it.
        const renewedMeanwhile = this.token !== undefined && this.token.header !== sentAuth.get(response) && !newScope;
        await this.lookUpCredential();
        if (!renewedMeanwhile) await this.authorize(true);
        response = await this.sendFollowing(method, url, options);
      }
    }
    return response;
  }

  private credentialsCanHelp(response: Response): boolean {
    return Boolean(response.headers.get("www-authenticate"));
  }

  private async sendFollowing(method: string, startUrl: string, options: RequestOptions, firstError?: RegistryError): Promise<Response> {
    let url = this.onCurrentScheme(startUrl);
    let m = method;
    let body: RequestInit["body"] | undefined = options.body?.();
    const origin = new URL(this.base).host;
    for (let hop = 0; hop < 6; hop++) {
      const sameHost = new URL(url).host === origin;
      const headers: Record<string, string> = { "user-agent": userAgent(), ...options.headers };
      if (sameHost) {
        await this.authorize(false);
        if (this.token) headers.authorization = this.token.header;
      }
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new DOMException("timed out", "TimeoutError")), options.timeoutMs ?? DEFAULT_TIMEOUT);
      let response: Response;
      try {
        response = await fetch(url, {
          method: m,
          headers,
          body,
          redirect: "manual",
          signal: controller.signal,
          // Bun: TLS settings per request (CA bundle, client certificate, verification).
          ...(url.startsWith("https:") && this.tls ? { tls: this.tls } : {}),
        } as RequestInit);
      } catch (error) {
        clearTimeout(timer);
        const failure = firstError ?? networkError(error, { method: m, url, registry: this.registry, certDir: this.tlsOptions?.certDir });
        if (this.fallBack()) return this.sendFollowing(method, startUrl, options, failure);
        // Nothing answered: start from the first scheme on the next attempt, report the first failure.
        if (!this.settled) this.schemeIndex = 0;
        throw failure;
      } finally {
        clearTimeout(timer);
      }
      sentAuth.set(response, headers.authorization);
      if (!this.settled) {
        // A TLS registry answering our plain http request.
        if (response.status === 400 && url.startsWith("http:") && this.schemeIndex + 1 < this.schemes.length && (await answeredByTls(response, m, url))) {
          await response.arrayBuffer().catch(() => undefined);
          if (this.fallBack()) return this.sendFollowing(method, startUrl, options);
        }
        this.settled = true;
      }
      if ([301, 302, 303, 307, 308].includes(response.status) && response.headers.get("location")) {
        const next = new URL(response.headers.get("location")!, url).toString();
        await response.arrayBuffer().catch(() => undefined);
        if (response.status === 303 || ((response.status === 301 || response.status === 302) && m !== "GET" && m !== "HEAD")) {
          m = "GET";
          body = undefined;
        } else if (body !== undefined) {
          body = options.body?.();
        }
        url = next;
        continue;
      }
      return response;
    }
    throw new RegistryError(`${method} ${redactUrl(startUrl)}: too many redirects`, { kind: "protocol", registry: this.registry });
  }

  /** Makes sure `this.token` is valid for the known challenge (refreshing an expired token). */
  private async authorize(force: boolean): Promise<void> {
    const c = this.challenge;
    if (!c) return;
    if (!force && this.token && this.token.expiresAt > Date.now()) return;
    if (this.tokenPending) return this.tokenPending;
    this.tokenPending = (async () => {
      try {
        if (c.scheme === "basic") {
          if (this.credential.kind !== "basic") throw this.noCredentials();
          this.token = { header: basicHeader(this.credential.username, this.credential.password), expiresAt: Number.MAX_SAFE_INTEGER };
        } else {
          this.token = await this.fetchToken(c);
        }
      } finally {
        this.tokenPending = undefined;
      }
    })();
    return this.tokenPending;
  }

  /** Runs the credential lookup once; a helper that fails leaves the credential anonymous, and says why later. */
  private async lookUpCredential(): Promise<void> {
    if (!this.lookUp) return;
    this.lookUpPending ??= (async () => {
      try {
        this.credential = await this.lookUp!();
      } catch (error) {
        if (!(error instanceof RegistryError && error.kind === "auth")) throw error;
        this.credentialProblem = error.message;
      } finally {
        this.lookUp = undefined;
      }
    })();
    return this.lookUpPending;
  }

  private noCredentials(): RegistryError {
    if (this.credentialProblem) return new RegistryError(`authentication required by ${this.registry}, and ${this.credentialProblem}`, { kind: "auth", registry: this.registry });
    return new RegistryError(`authentication required by ${this.registry} and no credentials found (use 'apt-ostree login ${this.registry}', ${this.credentialFlag} or --authfile)`, { kind: "auth", registry: this.registry });
  }

  private async fetchToken(c: Challenge): Promise<Token> {
    const realm = c.params.realm;
    if (!realm) throw new RegistryError(`${this.registry} asked for a Bearer token without a realm`, { kind: "protocol", registry: this.registry });
    const realmUrl = new URL(realm, this.base);
    if (this.base.startsWith("https:") && realmUrl.protocol === "http:" && !isLoopback(realmUrl.host)) {
      throw new RegistryError(`${this.registry} sent a token realm over plain http (${redactUrl(realm)}): refused`, { kind: "auth", registry: this.registry });
    }
    const headers: Record<string, string> = { "user-agent": userAgent() };
    const cred = this.credential;
    let response: Response;
    const fetchTls = this.tls && realmUrl.protocol === "https:" ? { tls: this.tls } : {};
    try {
      if (cred.kind === "identity") {
        const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: cred.token, client_id: "apt-ostree" });
        if (c.params.service) form.set("service", c.params.service);
        if (this.scopes.length) form.set("scope", this.scopes.join(" "));
        headers["content-type"] = "application/x-www-form-urlencoded";
        response = await fetch(realmUrl, { method: "POST", headers, body: form.toString(), signal: AbortSignal.timeout(DEFAULT_TIMEOUT), ...fetchTls } as RequestInit);
      } else {
        if (c.params.service) realmUrl.searchParams.set("service", c.params.service);
        for (const s of this.scopes) realmUrl.searchParams.append("scope", s);
        if (cred.kind === "basic") {
          realmUrl.searchParams.set("account", cred.username);
          headers.authorization = basicHeader(cred.username, cred.password);
        }
        response = await fetch(realmUrl, { headers, signal: AbortSignal.timeout(DEFAULT_TIMEOUT), ...fetchTls } as RequestInit);
      }
    } catch (error) {
      throw networkError(error, { method: cred.kind === "identity" ? "POST" : "GET", url: realmUrl.toString(), registry: this.registry, certDir: this.tlsOptions?.certDir });
    }
    const text = await response.text().catch(() => "");
    if (response.status === 401 || response.status === 403) {
      if (cred.kind === "anonymous") throw this.noCredentials();
      throw new RegistryError(`authentication to ${this.registry} failed: wrong username or password (token service answered ${response.status})`, { kind: "auth", registry: this.registry, status: response.status });
    }
    if (response.status !== 200) {
      throw httpError(response.status, text, { method: "GET", url: realmUrl.toString(), registry: this.registry, what: "token request" });
    }
    let json: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      json = JSON.parse(text);
    } catch {
      throw new RegistryError(`the token service of ${this.registry} gave invalid JSON`, { kind: "protocol", registry: this.registry });
    }
    const token = json.token || json.access_token;
    if (!token) throw new RegistryError(`the token service of ${this.registry} gave no token`, { kind: "protocol", registry: this.registry });
    // expires_in defaults to 60 s; renew a little early (a fifth of the lifetime, at most 10 s).
    const lifetime = Math.max(1, Number(json.expires_in) || 60) * 1000;
    return { header: `Bearer ${token}`, expiresAt: Date.now() + lifetime - Math.min(10_000, lifetime / 5) };
  }
}

/**
 * Whether a 400 to a plain http request came from a TLS server (Go's "Client sent an HTTP request
 * to an HTTPS server"). The answer to a HEAD has no body: then GET /v2/ on the same port tells.
 */
async function answeredByTls(response: Response, method: string, url: string): Promise<boolean> {
  let text: string;
  if (method === "HEAD") {
    try {
      const probe = await fetch(new URL("/v2/", url), { headers: { "user-agent": userAgent() }, redirect: "manual", signal: AbortSignal.timeout(DEFAULT_TIMEOUT) });
      text = await probe.text();
      if (probe.status !== 400) return false;
    } catch {
      return false;
    }
  } else text = await response.clone().text().catch(() => "");
  return /https/i.test(text);
}

/** Reads a (small) body, giving up when it stalls: a retryable network error. */
async function readWithTimeout(response: Response, ms: number): Promise<Uint8Array> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      response.body?.cancel().catch(() => undefined);
      reject(Object.assign(new Error("timed out reading the answer"), { name: "TimeoutError" }));
    }, ms);
  });
  try {
    return new Uint8Array(await Promise.race([response.arrayBuffer(), stalled]));
  } finally {
    clearTimeout(timer);
  }
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}

const SYSTEM_CA = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"];

/** Verified https: the system's CA store, plus --cert-dir's CAs and client certificate. */
function tlsConfig(tls: TlsOptions | undefined): Record<string, unknown> | undefined {
  const ca: string[] = [];
  for (const p of SYSTEM_CA) {
    if (existsSync(p)) {
      ca.push(readFileSync(p, "utf8"));
      break;
    }
  }
  if (!tls?.certDir) return ca.length ? { ca, rejectUnauthorized: true } : undefined;
  const dir = tls.certDir;
  const from = tls.certDirFrom ?? "--cert-dir";
  const named = from === "--cert-dir" ? `--cert-dir ${dir}` : dir;
  let cert: string | undefined;
  let key: string | undefined;
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new RegistryError(`${named} does not exist`, { kind: "not-found" });
    throw new RegistryError(`${named}: ${code === "ENOTDIR" ? "not a directory" : code === "EACCES" ? "permission denied" : (e as Error).message}`, { kind: "config" });
  }
  // The runtime would take a bad PEM silently and fail every connection later with a vague
  // error: every file is checked here, as containers tools do, and named when it is bad.
  for (const name of names) {
    const full = join(dir, name);
    if (name.endsWith(".crt")) {
      const text = readCertFile(full, from);
      certificatesIn(text, full, from);
      ca.push(text);
    } else if (name.endsWith(".cert")) {
      const keyPath = full.replace(/\.cert$/, ".key");
      if (!existsSync(keyPath)) throw new RegistryError(`${from}: client certificate ${full} has no key ${keyPath}`, { kind: "config" });
      cert = readCertFile(full, from);
      key = readCertFile(keyPath, from);
      const [first] = certificatesIn(cert, full, from);
      let privateKey: ReturnType<typeof createPrivateKey>;
      try {
        privateKey = createPrivateKey(key);
      } catch {
        throw new RegistryError(`${from}: ${keyPath} is not a PEM private key`, { kind: "config" });
      }
      if (!first!.checkPrivateKey(privateKey)) throw new RegistryError(`${from}: key ${keyPath} does not belong to client certificate ${full}`, { kind: "config" });
    } else if (name.endsWith(".key")) {
      const certPath = full.replace(/\.key$/, ".cert");
      if (!existsSync(certPath)) throw new RegistryError(`${from}: key ${full} has no client certificate ${certPath}`, { kind: "config" });
    }
  }
  return { ca, ...(cert ? { cert, key } : {}), rejectUnauthorized: true };
}

function readCertFile(path: string, from: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RegistryError(`${from}: cannot read ${path}: ${code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (e as Error).message}`, { kind: "config" });
  }
}

/** The PEM certificates of a file; a file without one, or with one that does not parse, is a configuration error. */
function certificatesIn(text: string, path: string, from: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new RegistryError(`${from}: ${path} holds no PEM certificate`, { kind: "config" });
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new RegistryError(`${from}: ${path} holds an invalid certificate${blocks.length > 1 ? ` (${i + 1} of ${blocks.length})` : ""}`, { kind: "config" });
    }
  });
}
