// Pure parts of the registry client: references, challenges, errors, retry policy, credential files,
// header parsing, platform choice. Runs under Node (vitest); no network.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseChallenges, pickChallenge, repositoryScope } from "../src/registry/challenge.ts";
import {
  authFileCandidates, decodeAuthEntry, defaultWriteAuthFile, findInAuthFile, lookupKeys, normalizeAuthKey, parseAuthFile, parseCredsFlag, parseHelperOutput, resolveCredential, runCredentialHelper,
} from "../src/registry/credentials.ts";
import { RegistryError, httpError, isRetryableStatus, networkError, parseErrorBody, redactUrl, toUserError } from "../src/registry/errors.ts";
import { parseLinkNext, parseRange } from "../src/registry/http.ts";
import { missingPlatform, platformMatches, selectPlatform } from "../src/registry/images.ts";
import { endpointHost, formatReference, isLoopback, isRegistryHost, joinHostAndName, parseReference } from "../src/registry/reference.ts";
import { backoffDelay, defaultRetryPolicy, parseRetryAfter } from "../src/registry/retry.ts";
import { ExitCode, UserError } from "../src/errors.ts";
import { tempDir } from "./helpers/cli.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("references", () => {
  it("parses docker:// and plain forms", () => {
    expect(parseReference("docker://localhost:5000/demo:latest")).toEqual({ registry: "localhost:5000", repository: "demo", tag: "latest", digest: undefined });
    expect(parseReference("127.0.0.1:5000/a/b/c")).toMatchObject({ registry: "127.0.0.1:5000", repository: "a/b/c", tag: "latest" });
    expect(parseReference("ghcr.io/o/r@sha256:" + "a".repeat(64))).toMatchObject({ registry: "ghcr.io", repository: "o/r", tag: undefined, digest: "sha256:" + "a".repeat(64) });
    expect(parseReference("ghcr.io/o/r:v1@sha256:" + "b".repeat(64))).toMatchObject({ tag: "v1", digest: "sha256:" + "b".repeat(64) });
    expect(parseReference("localhost/x", null)).toMatchObject({ registry: "localhost", repository: "x", tag: undefined });
  });
  it("normalises Docker Hub names", () => {
    expect(parseReference("debian")).toMatchObject({ registry: "docker.io", repository: "library/debian", tag: "latest" });
    expect(parseReference("docker.io/debian:12")).toMatchObject({ registry: "docker.io", repository: "library/debian", tag: "12" });
    expect(parseReference("index.docker.io/me/app")).toMatchObject({ registry: "docker.io", repository: "me/app" });
    expect(parseReference("me/app")).toMatchObject({ registry: "docker.io", repository: "me/app" });
    expect(endpointHost("docker.io")).toBe("registry-1.docker.io");
  });
  it("rejects invalid names, tags and digests", () => {
    expect(() => parseReference("localhost:5000/Demo")).toThrow(/lowercase/);
    expect(() => parseReference("localhost:5000/demo:-bad")).toThrow(/bad tag/);
    expect(() => parseReference("localhost:5000/demo@sha256")).toThrow(/bad digest/);
    // A digest a registry could never match is refused here, not retried against its 500s.
    expect(() => parseReference("localhost:5000/demo@sha256:abc")).toThrow("a sha256 digest is 64 lowercase hex digits");
    expect(() => parseReference(`localhost:5000/demo@sha256:${"A".repeat(64)}`)).toThrow(/64 lowercase hex/);
    expect(() => parseReference("localhost:5000/demo@md5:abc")).toThrow("unsupported digest algorithm 'md5' (sha256 or sha512)");
    expect(parseReference(`localhost:5000/demo@sha512:${"a".repeat(128)}`).digest).toBe(`sha512:${"a".repeat(128)}`);
    expect(() => parseReference("")).toThrow();
    expect(() => parseReference("a//b")).toThrow();
  });
  it("joins the original design's HOST NAME:TAG form", () => {
    expect(formatReference(parseReference(joinHostAndName("localhost:5000", "demo:latest")))).toBe("localhost:5000/demo:latest");
    expect(joinHostAndName("docker://localhost:5000/", "/demo:1")).toBe("localhost:5000/demo:1");
  });
  it("tells a registry alone from an image", () => {
    for (const t of ["127.0.0.1:5000", "docker://localhost:5000", "localhost", "ghcr.io", "[::1]:5000", "registry.example:443/"]) expect(isRegistryHost(t), t).toBe(true);
    for (const t of ["debian", "debian:12", "127.0.0.1:5000/demo", "me/app", "ghcr.io/o/r", "demo@sha256:" + "a".repeat(64)]) expect(isRegistryHost(t), t).toBe(false);
  });
  it("knows loopback hosts", () => {
    for (const h of ["localhost", "localhost:5000", "127.0.0.1:8080", "[::1]:5000", "foo.localhost"]) expect(isLoopback(h)).toBe(true);
    for (const h of ["ghcr.io", "10.0.0.1:5000", "localhost.example.com"]) expect(isLoopback(h)).toBe(false);
  });
});

describe("WWW-Authenticate", () => {
  it("parses Bearer challenges with quoted parameters", () => {
    const [c] = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"');
    expect(c).toEqual({ scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/debian:pull" } });
  });
  it("parses several challenges, unquoted values and escapes, and prefers Bearer", () => {
    const cs = parseChallenges('Basic realm="a \\"quoted\\" realm", Bearer realm=https://x/t, service=s , error="insufficient_scope"');
    expect(cs.map((c) => c.scheme)).toEqual(["basic", "bearer"]);
    expect(cs[0]!.params.realm).toBe('a "quoted" realm');
    expect(cs[1]!.params).toEqual({ realm: "https://x/t", service: "s", error: "insufficient_scope" });
    expect(pickChallenge(cs)!.scheme).toBe("bearer");
    expect(parseChallenges(null)).toEqual([]);
    expect(repositoryScope("a/b", ["pull", "push"])).toBe("repository:a/b:pull,push");
  });
});

describe("errors", () => {
  it("parses OCI error bodies", () => {
    expect(parseErrorBody('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known","detail":{"name":"x"}}]}')).toEqual([
      { code: "NAME_UNKNOWN", message: "repository name not known", detail: { name: "x" } },
    ]);
    expect(parseErrorBody("<html>bad gateway</html>")).toEqual([]);
    expect(parseErrorBody('{"errors":[{"nocode":1}]}')).toEqual([]);
  });
  it("redacts URLs (credentials, query)", () => {
    expect(redactUrl("https://u:p@h/v2/x/blobs/uploads/abc?_state=SECRET&digest=sha256:1")).toBe("https://h/v2/x/blobs/uploads/abc?…");
  });
  it("classifies retryable statuses", () => {
    expect([408, 429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 416, 501].some(isRetryableStatus)).toBe(false);
  });
  const ctx = { method: "GET", url: "http://r/v2/a/manifests/x?token=secret", registry: "r", repository: "a" };
  const exit = (e: unknown) => (toUserError(e) as UserError).exitCode;
  it("maps registry errors to one-line user errors with exit codes", () => {
    expect(exit(httpError(401, '{"errors":[{"code":"UNAUTHORIZED"}]}', ctx))).toBe(ExitCode.Auth);
    expect(exit(httpError(403, '{"errors":[{"code":"DENIED"}]}', { ...ctx, method: "PUT" }))).toBe(ExitCode.Auth);
    expect((toUserError(httpError(403, "", { ...ctx, method: "PUT" })) as Error).message).toMatch(/no push right/);
    expect(exit(httpError(404, '{"errors":[{"code":"NAME_UNKNOWN"}]}', ctx))).toBe(ExitCode.NotFound);
    expect(exit(httpError(404, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', ctx))).toBe(ExitCode.NotFound);
    expect(exit(httpError(400, '{"errors":[{"code":"NAME_INVALID"}]}', ctx))).toBe(ExitCode.Usage);
    expect(exit(httpError(503, "", ctx))).toBe(ExitCode.Network);
    expect(exit(networkError(Object.assign(new Error("connect"), { code: "ECONNREFUSED" }), ctx))).toBe(ExitCode.Network);
    // A failed connection: one short line naming the host, not the runtime's own text; retried unless the name does not resolve.
    const refused = networkError(Object.assign(new TypeError("ECONNREFUSED: Unable to connect. Is the computer able to access the url?"), { code: "ECONNREFUSED" }), { ...ctx, url: "http://alice:pw@127.0.0.1:1/v2/a/manifests/x" });
    expect((toUserError(refused) as Error).message).toBe("cannot connect to 127.0.0.1:1: connection refused");
    expect(refused.retryable).toBe(true);
    const unresolved = networkError(Object.assign(new TypeError("getaddrinfo ENOTFOUND nosuch.invalid"), { code: "ENOTFOUND" }), { ...ctx, url: "https://nosuch.invalid/v2/" });
    expect((toUserError(unresolved) as Error).message).toBe("cannot connect to nosuch.invalid: name does not resolve");
    expect(unresolved.retryable).toBe(false);
    // A missing tag or digest is named in full.
    expect((toUserError(httpError(404, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', ctx)) as Error).message).toMatch(/^image not found: r\/a:x \(/);
    const byDigest = { ...ctx, url: `http://r/v2/a/manifests/sha256:${"0".repeat(64)}` };
    expect((toUserError(httpError(404, "", byDigest)) as Error).message).toBe(`image not found: r/a@sha256:${"0".repeat(64)}`);
    // The caller's input: a bad configuration (exit 2), something named that is not there (exit 3).
    expect(exit(new RegistryError("x", { kind: "config" }))).toBe(ExitCode.Usage);
    expect(exit(new RegistryError("x", { kind: "not-found" }))).toBe(ExitCode.NotFound);
    const tls = networkError(Object.assign(new Error("unable to verify the first certificate"), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }), ctx);
    expect(tls.kind).toBe("tls");
    expect(tls.retryable).toBe(false);
    // Said once, in words, with the code to search for; not "TLS failure ...: GET ...: TLS failure (CODE)".
    expect((toUserError(tls) as Error).message).toBe("TLS failure talking to r: its certificate is signed by an unknown CA (UNABLE_TO_VERIFY_LEAF_SIGNATURE) (use --cert-dir for a private CA, or --tls-verify=false)");
    const message = (toUserError(httpError(500, "", ctx)) as Error).message;
    expect(message).not.toMatch(/secret/);
    expect(message).not.toMatch(/\n/);
    expect(toUserError(new Error("other"))).toBeInstanceOf(Error);
  });
  it("keeps status, codes, method and retryability", () => {
    const e = httpError(429, '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', { ...ctx, retryAfterMs: 2000 });
    expect(e).toBeInstanceOf(RegistryError);
    expect(e).toMatchObject({ status: 429, method: "GET", retryable: true, retryAfterMs: 2000 });
    expect(e.hasCode("TOOMANYREQUESTS")).toBe(true);
  });
});

describe("retry policy", () => {
  it("backs off exponentially with jitter, capped", () => {
    const p = { ...defaultRetryPolicy, baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(p, 1, undefined, () => 0)).toBe(50);
    expect(backoffDelay(p, 1, undefined, () => 1)).toBe(100);
    expect(backoffDelay(p, 3, undefined, () => 1)).toBe(400);
    expect(backoffDelay(p, 10, undefined, () => 1)).toBe(1000);
  });
  it("honours Retry-After, within bounds", () => {
    const p = { ...defaultRetryPolicy, baseMs: 100, maxMs: 1000, maxRetryAfterMs: 5000 };
    expect(backoffDelay(p, 1, 3000, () => 0)).toBe(3000);
    expect(backoffDelay(p, 1, 60_000, () => 0)).toBe(5000);
    expect(parseRetryAfter("2")).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 5_000)).toBe(5_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe("headers", () => {
  it("follows Link rel=next", () => {
    expect(parseLinkNext('</v2/a/tags/list?last=b&n=2>; rel="next"')).toBe("/v2/a/tags/list?last=b&n=2");
    expect(parseLinkNext('<https://x/prev>; rel="prev", <https://x/next>; rel="next"')).toBe("https://x/next");
    expect(parseLinkNext('<https://x/prev>; rel="prev"')).toBeUndefined();
    expect(parseLinkNext(null)).toBeUndefined();
  });
  it("parses upload ranges", () => {
    expect(parseRange("0-1023")).toEqual({ start: 0, end: 1023 });
    expect(parseRange("bytes=0-9")).toEqual({ start: 0, end: 9 });
    expect(parseRange("junk")).toBeUndefined();
  });
});

describe("platforms", () => {
  const index = {
    schemaVersion: 2 as const,
    manifests: [
      { mediaType: "m", digest: "sha256:amd", size: 1, platform: { os: "linux", architecture: "amd64" } },
      { mediaType: "m", digest: "sha256:arm7", size: 1, platform: { os: "linux", architecture: "arm", variant: "v7" } },
      { mediaType: "m", digest: "sha256:arm64", size: 1, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
    ],
  };
  it("picks the matching entry", () => {
    expect(selectPlatform(index, { os: "linux", architecture: "amd64" })!.digest).toBe("sha256:amd");
    expect(selectPlatform(index, { os: "linux", architecture: "arm64" })!.digest).toBe("sha256:arm64");
    expect(selectPlatform(index, { os: "linux", architecture: "arm", variant: "v7" })!.digest).toBe("sha256:arm7");
    expect(selectPlatform(index, { os: "linux", architecture: "s390x" })).toBeUndefined();
    expect(selectPlatform(index, { os: "windows", architecture: "amd64" })).toBeUndefined();
  });
  it("checks a single image's platform and names what is there when it is missing", () => {
    expect(platformMatches({ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "amd64" })).toBe(true);
    expect(platformMatches({ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "arm64", variant: "v8" })).toBe(true);
    expect(platformMatches({ os: "linux", architecture: "arm", variant: "v5" }, { os: "linux", architecture: "arm", variant: "v7" })).toBe(false);
    expect(platformMatches({ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm64" })).toBe(false);
    const want = { os: "linux", architecture: "s390x" };
    expect(missingPlatform(want, { index }).message).toBe("no image for linux/s390x (the index offers linux/amd64, linux/arm/v7, linux/arm64/v8)");
    expect(missingPlatform(want, { config: { os: "linux", architecture: "amd64" } })).toMatchObject({ kind: "not-found", message: "no image for linux/s390x (the image is linux/amd64 only)" });
  });
});

describe("credential files", () => {
  it("normalises keys as containers tools do", () => {
    expect(normalizeAuthKey("https://index.docker.io/v1/")).toBe("docker.io");
    expect(normalizeAuthKey("registry-1.docker.io")).toBe("docker.io");
    expect(normalizeAuthKey("http://localhost:5000/v2/")).toBe("localhost:5000");
    expect(normalizeAuthKey("quay.io/ns/repo")).toBe("quay.io/ns/repo");
    expect(lookupKeys("quay.io", "ns/sub/repo")).toEqual(["quay.io/ns/sub/repo", "quay.io/ns/sub", "quay.io/ns", "quay.io"]);
  });
  it("finds entries: helpers first, most specific key, identity tokens, credsStore last", () => {
    const file = parseAuthFile(
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: b64("hub:pw") },
          "quay.io": { auth: b64("q:all") },
          "quay.io/team": { auth: b64("q:team") },
          "r.example": { auth: b64("x:y"), identitytoken: "idtok" },
          "empty.example": {},
        },
        credHelpers: { "gcr.io": "gcloud" },
        credsStore: "desktop",
      }),
    );
    expect(findInAuthFile(file, "docker.io", "library/debian", "f", false)).toMatchObject({ found: "credential", credential: { kind: "basic", username: "hub", password: "pw" } });
    expect(findInAuthFile(file, "quay.io", "team/app", "f", false)).toMatchObject({ credential: { password: "team" } });
    expect(findInAuthFile(file, "quay.io", "other/app", "f", false)).toMatchObject({ credential: { password: "all" } });
    expect(findInAuthFile(file, "r.example", "a", "f", false)).toMatchObject({ credential: { kind: "identity", token: "idtok", username: "x" } });
    expect(findInAuthFile(file, "gcr.io", "a", "f", true)).toMatchObject({ found: "helper", helper: "gcloud", serverUrl: "gcr.io" });
    expect(findInAuthFile(file, "docker.io", "a/b", "f", true)).toMatchObject({ found: "credential" });
    expect(findInAuthFile(file, "empty.example", "a", "f", true)).toMatchObject({ found: "helper", helper: "desktop" });
    expect(findInAuthFile(file, "empty.example", "a", "f", false)).toEqual({ found: "none" });
  });
  it("decodes auth entries and helper output", () => {
    expect(decodeAuthEntry({ auth: b64("u:p:with:colons") }, "k")).toEqual({ kind: "basic", username: "u", password: "p:with:colons" });
    expect(() => decodeAuthEntry({ auth: b64("nocolon") }, "k")).toThrow();
    expect(parseHelperOutput('{"ServerURL":"x","Username":"<token>","Secret":"t"}')).toEqual({ kind: "identity", token: "t" });
    expect(parseHelperOutput('{"ServerURL":"x","Username":"u","Secret":"s"}')).toEqual({ kind: "basic", username: "u", password: "s" });
  });
  it("searches files in the containers order", () => {
    const env = { REGISTRY_AUTH_FILE: "/a.json", XDG_RUNTIME_DIR: "/run/u", XDG_CONFIG_HOME: "", DOCKER_CONFIG: "/dc" };
    expect(authFileCandidates({ env, home: "/h" }).map((c) => c.path)).toEqual(["/a.json", "/run/u/containers/auth.json", "/h/.config/containers/auth.json", "/dc/config.json"]);
    expect(authFileCandidates({ env: {}, home: "/h", uid: 0 }).map((c) => c.path)).toEqual(["/run/containers/0/auth.json", "/h/.config/containers/auth.json", "/h/.docker/config.json"]);
    expect(authFileCandidates({ env, home: "/h", authfile: "/only.json" }).map((c) => c.path)).toEqual(["/only.json"]);
    expect(defaultWriteAuthFile({ env: { XDG_RUNTIME_DIR: "/run/u" }, home: "/h" })).toBe("/run/u/containers/auth.json");
    // Without XDG_RUNTIME_DIR (root on a build host): where podman and skopeo log in.
    expect(defaultWriteAuthFile({ env: {}, home: "/h", uid: 0 })).toBe("/run/containers/0/auth.json");
    expect(defaultWriteAuthFile({ env: { XDG_CONFIG_HOME: "/c" }, home: "/h", uid: 1000 })).toBe("/c/containers/auth.json");
  });

  const tmp = tempDir("registry-creds-");
  afterAll(() => tmp.cleanup());
  it("resolves through files and credential helpers (secret via stdin, not argv)", async () => {
    const bin = join(tmp.path, "bin");
    mkdirSync(bin);
    const argvLog = join(tmp.path, "argv.log");
    writeFileSync(
      join(bin, "docker-credential-test"),
      `#!/bin/sh\necho "$@" >> ${argvLog}\nread url\nif [ "$url" = "helped.example" ]; then printf '{"ServerURL":"%s","Username":"hu","Secret":"hs"}' "$url"; else echo "credentials not found in native keychain"; exit 1; fi\n`,
    );
    chmodSync(join(bin, "docker-credential-test"), 0o755);
    const docker = join(tmp.path, "docker");
    mkdirSync(docker);
    writeFileSync(join(docker, "config.json"), JSON.stringify({ auths: { "plain.example": { auth: b64("du:dp") } }, credHelpers: { "helped.example": "test" }, credsStore: "test" }));
    const env = { PATH: `${bin}:${process.env.PATH}`, DOCKER_CONFIG: docker };
    const home = join(tmp.path, "home");
    expect((await resolveCredential("helped.example", "r", { env, home })).credential).toEqual({ kind: "basic", username: "hu", password: "hs" });
    expect((await resolveCredential("plain.example", "r", { env, home })).credential).toEqual({ kind: "basic", username: "du", password: "dp" });
    expect((await resolveCredential("unknown.example", "r", { env, home })).credential).toEqual({ kind: "anonymous" });
    expect((await resolveCredential("plain.example", "r", { env, home, creds: "c:d" })).credential).toEqual({ kind: "basic", username: "c", password: "d" });
    // A malformed --creds is the caller's mistake (exit 2), and the message never holds the value.
    for (const creds of ["alice", ":s3cret", "alice:", ""]) {
      expect(parseCredsFlag(creds)).toBeUndefined();
      const error = await resolveCredential("plain.example", "r", { env, home, creds }).catch((e: unknown) => e);
      expect(error).toMatchObject({ kind: "config", message: "--creds must be USERNAME:PASSWORD" });
      expect((toUserError(error) as UserError).exitCode).toBe(ExitCode.Usage);
    }
    expect(parseCredsFlag("u:p:with:colons")).toEqual({ kind: "basic", username: "u", password: "p:with:colons" });
    // --authfile: missing (exit 3); not JSON (exit 2), without the parser's quote of the text.
    const missing = await resolveCredential("plain.example", "r", { env, home, authfile: join(tmp.path, "nonexist.json") }).catch((e: unknown) => e);
    expect((toUserError(missing) as UserError).exitCode).toBe(ExitCode.NotFound);
    const bad = join(tmp.path, "bad.json");
    writeFileSync(bad, '{"auths": {"plain.example": {"auth": s3cret}}}');
    const invalid = await resolveCredential("plain.example", "r", { env, home, authfile: bad }).catch((e: unknown) => e);
    expect(toUserError(invalid)).toMatchObject({ exitCode: ExitCode.Usage, message: `${bad} is not valid JSON` });
    // an earlier file wins
    const xdg = join(tmp.path, "xdg");
    mkdirSync(join(xdg, "containers"), { recursive: true });
    writeFileSync(join(xdg, "containers/auth.json"), JSON.stringify({ auths: { "plain.example": { auth: b64("xu:xp") } } }));
    expect((await resolveCredential("plain.example", "r", { env: { ...env, XDG_RUNTIME_DIR: xdg }, home })).credential).toMatchObject({ username: "xu" });
    const { readFileSync } = await import("node:fs");
    expect(readFileSync(argvLog, "utf8").trim().split("\n").every((l) => l === "get")).toBe(true);
  });

  it("a helper that exits without reading stdin, fails in its own words, or hangs", async () => {
    const bin = join(tmp.path, "helpers");
    mkdirSync(bin);
    const helper = (name: string, body: string) => {
      writeFileSync(join(bin, `docker-credential-${name}`), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, `docker-credential-${name}`), 0o755);
    };
    // Exits before the server URL is written: its closed stdin is no crash (EPIPE), its answer counts.
    helper("gone", 'echo "credentials not found in native keychain"; exit 1');
    helper("broken", 'echo "pass: command not found" >&2; exit 127');
    // A shell whose child keeps the output open: the timeout stops both.
    helper("hang", "sleep 100; echo late");
    const env = { PATH: `${bin}:${process.env.PATH}` };
    for (let i = 0; i < 20; i++) expect(await runCredentialHelper("gone", "r.example", env)).toBeUndefined();
    // Not docker-credential-helpers' "credentials not found": the helper's own failure, not "no entry".
    await expect(runCredentialHelper("broken", "r.example", env)).rejects.toThrow("credential helper docker-credential-broken failed (exit 127)");
    const started = Date.now();
    await expect(runCredentialHelper("hang", "r.example", env, 500)).rejects.toThrow("credential helper docker-credential-hang timed out after 1 s");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("reads /run/containers/UID/auth.json when XDG_RUNTIME_DIR is not set, as podman and skopeo write it as root", () => {
    expect(authFileCandidates({ env: {}, home: "/h", uid: 1000 })[0]!.path).toBe("/run/containers/1000/auth.json");
  });
});

describe("transport choices and flag parsing", () => {
  it("picks schemes: http first on loopback, verified https elsewhere, fallbacks when insecure", async () => {
    const { schemesFor } = await import("../src/registry/transport.ts");
    expect(schemesFor("localhost:5000", undefined)).toEqual([{ scheme: "http", verify: false }, { scheme: "https", verify: false }]);
    expect(schemesFor("ghcr.io", undefined)).toEqual([{ scheme: "https", verify: true }]);
    expect(schemesFor("ghcr.io", { verify: false })).toEqual([{ scheme: "https", verify: false }, { scheme: "http", verify: false }]);
    expect(schemesFor("127.0.0.1:5000", { verify: true })).toEqual([{ scheme: "https", verify: true }]);
    // --cert-dir verifies https, but leaves a loopback registry its plain http (copy has one --cert-dir for both sides).
    expect(schemesFor("127.0.0.1:5000", { certDir: "/certs" })).toEqual([{ scheme: "http", verify: false }, { scheme: "https", verify: true }]);
    expect(schemesFor("ghcr.io", { certDir: "/certs" })).toEqual([{ scheme: "https", verify: true }]);
  });
  it("reads upload ranges, with distribution's ambiguous 0-0", async () => {
    const { uploadedBytes } = await import("../src/registry/client.ts");
    expect(uploadedBytes("0-0")).toBe(0);
    expect(uploadedBytes("0-1048575")).toBe(1048576);
    expect(uploadedBytes(null)).toBe(0);
  });
  it("parses flags", async () => {
    const { parseBool, parseJobs, parseSize } = await import("../src/cli/oci-registry.ts");
    expect(parseBool(undefined, "--x")).toBe(true);
    expect(parseBool("false", "--x")).toBe(false);
    expect(parseBool(true, "--x")).toBe(true);
    expect(() => parseBool("maybe", "--x")).toThrow(UserError);
    expect(parseJobs(undefined)).toBe(4);
    expect(parseJobs("8")).toBe(8);
    expect(() => parseJobs("0")).toThrow(/--jobs/);
    expect(parseSize("64MiB", "--s")).toBe(64 * 1024 * 1024);
    expect(parseSize("512KiB", "--s")).toBe(512 * 1024);
    expect(parseSize("1G", "--s")).toBe(1024 ** 3);
    expect(parseSize("1000", "--s")).toBe(1000);
    expect(() => parseSize("lots", "--s")).toThrow(/size/);
  });
});
