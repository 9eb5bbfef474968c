// Credentials end to end: htpasswd Basic auth and Bearer tokens from a token service the test runs
// (the registry configured with auth.token); credentials from --creds, --authfile,
// $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR, ~/.config, $DOCKER_CONFIG / ~/.docker (auths,
// identitytoken, credHelpers, credsStore); login/logout as podman writes them. Secrets never appear
// in output.
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync, lstatSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { binaryCommand, runCli, tempDir, type CliResult } from "./helpers/cli.ts";
import { startFaultProxy } from "./helpers/faultproxy.ts";
import { makeTestImage, skopeo, startRegistry, type TestImage, type TestRegistry } from "./helpers/registry.ts";

const tmp = tempDir("registry-auth-");
const PASSWORD = "Sup3r-s3cret-pw";
const bin = join(tmp.path, "bin");
const helperLog = join(tmp.path, "helper.log");
const b64 = (s: string) => Buffer.from(s).toString("base64");

let basic: TestRegistry;
let token: TestRegistry;
let image: TestImage;
let n = 0;

/** A fresh, empty HOME and no credential variables unless given. */
function envWith(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const home = join(tmp.path, `home-${++n}`);
  mkdirSync(home, { recursive: true });
  // XDG_RUNTIME_DIR: an empty one of the test's, or root's runs would use /run/containers/0.
  return { HOME: home, XDG_RUNTIME_DIR: join(home, "run"), XDG_CONFIG_HOME: undefined, DOCKER_CONFIG: undefined, REGISTRY_AUTH_FILE: undefined, PATH: `${bin}:${process.env.PATH}`, ...extra };
}

const outputs: CliResult[] = [];
async function cli(args: string[], env: Record<string, string | undefined>, input?: string): Promise<CliResult> {
  const r = await runCli(args, { env, input, timeoutMs: 120_000 });
  outputs.push(r);
  return r;
}

function writeJson(path: string, value: unknown): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
  return path;
}

beforeAll(async () => {
  basic = await startRegistry({ auth: "basic", users: [{ username: "alice", password: PASSWORD }] });
  token = await startRegistry({
    auth: "token",
    users: [{ username: "alice", password: PASSWORD, push: ["*"] }, { username: "bob", password: "bobs-pw" }],
    refreshTokens: { "refresh-abc": "alice" },
  });
  image = makeTestImage(join(tmp.path, "img"), { layerSizes: [300_000] });
  mkdirSync(bin);
  // A credential helper: the server URL comes on stdin; it logs its argv to prove no secret is there.
  writeFileSync(
    join(bin, "docker-credential-test"),
    `#!/bin/sh
echo "argv: $*" >> ${helperLog}
read url
case "$url" in
  ${basic.host}|${token.host}) printf '{"ServerURL":"%s","Username":"alice","Secret":"${PASSWORD}"}' "$url" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
  );
  chmodSync(join(bin, "docker-credential-test"), 0o755);
  // Seed both registries so read tests have something.
  await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", `alice:${PASSWORD}`, `oci:${image.path}:latest`, `docker://${basic.host}/seed:1`]);
  await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", `alice:${PASSWORD}`, `oci:${image.path}:latest`, `docker://${token.host}/seed:1`]);
});

afterAll(async () => {
  await basic?.stop();
  await token?.stop();
  tmp.cleanup();
});

describe("Basic auth (htpasswd)", () => {
  it("no credentials: an authentication error", async () => {
    const r = await cli(["oci", "inspect", `docker://${basic.host}/seed:1`], envWith());
    expect(r.code).toBe(4);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/authentication required/);
  });
  it("wrong password: an authentication error", async () => {
    const r = await cli(["oci", "push", image.path, `docker://${basic.host}/x:1`, "--creds", "alice:wrong"], envWith());
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/authentication to .* failed/);
  });
  it("a malformed --creds is a usage error (exit 2) that never repeats the password", async () => {
    const seed = `docker://${basic.host}/seed:1`;
    for (const [args, flag] of [
      [["oci", "inspect", seed, "--creds", "alice"], "--creds"],
      [["oci", "inspect", seed, "--creds", `:${PASSWORD}`], "--creds"],
      [["oci", "pull", seed, join(tmp.path, "no-user"), "--creds", `:${PASSWORD}`], "--creds"],
      [["oci", "push", image.path, `docker://${basic.host}/x:1`, "--creds", "alice:"], "--creds"],
      [["oci", "copy", seed, `docker://${basic.host}/y:1`, "--src-creds", `:${PASSWORD}`, "--dest-creds", `alice:${PASSWORD}`], "--src-creds"],
      [["oci", "copy", seed, `docker://${basic.host}/y:1`, "--src-creds", `alice:${PASSWORD}`, "--dest-creds", PASSWORD], "--dest-creds"],
    ] as [string[], string][]) {
      const r = await cli(args, envWith());
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")).toEqual([`apt-ostree: ${flag} must be USERNAME:PASSWORD`]);
    }
    expect(existsSync(join(tmp.path, "no-user"))).toBe(false);
  });
  it("--authfile: a missing file is exit 3, one that is not JSON exit 2 (a bad configuration file), one line each", async () => {
    const seed = `docker://${basic.host}/seed:1`;
    const missing = join(tmp.path, "nonexist.json");
    const r = await cli(["oci", "inspect", seed, "--authfile", missing], envWith());
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split("\n")).toEqual([`apt-ostree: auth file ${missing} does not exist`]);
    // The parser's detail quotes the text around the fault: here the password.
    const bad = join(tmp.path, "bad-auth.json");
    writeFileSync(bad, `{"auths": {"${basic.host}": {"auth": ${PASSWORD}}}}`);
    for (const [args, env] of [
      [["oci", "inspect", seed, "--authfile", bad], envWith()],
      [["oci", "inspect", seed], envWith({ REGISTRY_AUTH_FILE: bad })],
      [["logout", basic.host, "--authfile", bad], envWith()],
      [["login", basic.host, "-u", "alice", "--password-stdin", "--authfile", bad], envWith()],
    ] as [string[], Record<string, string | undefined>][]) {
      const b = await cli(args, env, `${PASSWORD}\n`);
      expect(b.code, args.join(" ")).toBe(2);
      expect(b.stderr.trim().split("\n")).toEqual([`apt-ostree: ${bad} is not valid JSON`]);
    }
    // An entry whose auth field is not USER:PASS in base64: also a bad configuration file.
    const noColon = writeJson(join(tmp.path, "no-colon/auth.json"), { auths: { [basic.host]: { auth: b64(PASSWORD) } } });
    const c = await cli(["oci", "inspect", seed, "--authfile", noColon], envWith());
    expect(c.code).toBe(2);
    expect(c.stderr.trim().split("\n")).toHaveLength(1);
    // A directory is no auth file: one line, not an internal error.
    const d = await cli(["oci", "inspect", seed, "--authfile", tmp.path], envWith());
    expect([d.code, d.stderr]).toEqual([2, `apt-ostree: cannot read auth file ${tmp.path}: is a directory\n`]);
  });
  it("copy's hints name the flag of the side that failed (copy has no --creds)", async () => {
    const seed = `docker://${basic.host}/seed:1`;
    const src = await cli(["oci", "copy", seed, `docker://${basic.host}/y:1`, "--src-creds", "alice:wrong", "--dest-creds", `alice:${PASSWORD}`], envWith());
    expect(src.code).toBe(4);
    expect(src.stderr.trim().split("\n")).toEqual([expect.stringContaining(`(try 'apt-ostree login ${basic.host}' or --src-creds)`)]);
    const dest = await cli(["oci", "copy", seed, `docker://${basic.host}/y:1`, "--src-creds", `alice:${PASSWORD}`, "--dest-creds", "alice:wrong"], envWith());
    expect(dest.code).toBe(4);
    expect(dest.stderr.trim().split("\n")).toEqual([expect.stringContaining(`(try 'apt-ostree login ${basic.host}' or --dest-creds)`)]);
    // No credentials at all: the source is asked first.
    const none = await cli(["oci", "copy", seed, `docker://${basic.host}/y:1`], envWith());
    expect(none.code).toBe(4);
    expect(none.stderr.trim().split("\n")).toEqual([`apt-ostree: authentication required by ${basic.host} and no credentials found (use 'apt-ostree login ${basic.host}', --src-creds or --authfile)`]);
    // A local side is a push (or pull): the registry's side flag all the same.
    const up = await cli(["oci", "copy", `oci:${image.path}:latest`, `docker://${basic.host}/y:1`, "--dest-creds", "alice:wrong"], envWith());
    expect(up.code).toBe(4);
    expect(up.stderr).toContain("or --dest-creds)");
    // push keeps --creds
    const push = await cli(["oci", "push", image.path, `docker://${basic.host}/x:1`, "--creds", "alice:wrong"], envWith());
    expect(push.stderr).toContain("or --creds)");
  });
  it("--creds: push and pull", async () => {
    const r = await cli(["oci", "push", image.path, `docker://${basic.host}/pushed:1`, "--creds", `alice:${PASSWORD}`], envWith());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(image.digest);
    const out = join(tmp.path, "basic-pull");
    const p = await cli(["oci", "pull", `docker://${basic.host}/pushed:1`, out, "--creds", `alice:${PASSWORD}`], envWith());
    expect(p.code, p.stderr).toBe(0);
  });

  const entry = () => ({ auths: { [basic.host]: { auth: b64(`alice:${PASSWORD}`) } } });
  const cases: [string, () => Record<string, string | undefined>, () => string[]][] = [
    ["--authfile", () => envWith(), () => ["--authfile", writeJson(join(tmp.path, "flag/auth.json"), entry())]],
    ["$REGISTRY_AUTH_FILE", () => envWith({ REGISTRY_AUTH_FILE: writeJson(join(tmp.path, "raf/auth.json"), entry()) }), () => []],
    ["$XDG_RUNTIME_DIR/containers/auth.json", () => {
      writeJson(join(tmp.path, "xdg-run/containers/auth.json"), entry());
      return envWith({ XDG_RUNTIME_DIR: join(tmp.path, "xdg-run") });
    }, () => []],
    ["~/.config/containers/auth.json", () => {
      const env = envWith();
      writeJson(join(env.HOME!, ".config/containers/auth.json"), entry());
      return env;
    }, () => []],
    ["$DOCKER_CONFIG/config.json (auths)", () => {
      writeJson(join(tmp.path, "dc/config.json"), { auths: { [`http://${basic.host}/v2/`]: { auth: b64(`alice:${PASSWORD}`) } } });
      return envWith({ DOCKER_CONFIG: join(tmp.path, "dc") });
    }, () => []],
    ["~/.docker/config.json (credHelpers)", () => {
      const env = envWith();
      writeJson(join(env.HOME!, ".docker/config.json"), { auths: {}, credHelpers: { [basic.host]: "test" } });
      return env;
    }, () => []],
    ["~/.docker/config.json (credsStore)", () => {
      const env = envWith();
      writeJson(join(env.HOME!, ".docker/config.json"), { auths: { [basic.host]: {} }, credsStore: "test" });
      return env;
    }, () => []],
  ];
  for (const [name, makeEnv, flags] of cases) {
    it(`credentials from ${name}`, async () => {
      const r = await cli(["oci", "inspect", `docker://${basic.host}/seed:1`, "--json", ...flags()], makeEnv());
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).digest).toBe(image.digest);
    });
  }

  it("credential helpers get the server on stdin, never a secret in argv", () => {
    const lines = readFileSync(helperLog, "utf8").trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).toBe("argv: get");
  });

  it("the first file that knows the registry wins (containers order)", async () => {
    const docker = join(tmp.path, "dc-right");
    writeJson(join(docker, "config.json"), { auths: { [basic.host]: { auth: b64(`alice:${PASSWORD}`) } } });
    const wrong = writeJson(join(tmp.path, "wrong/auth.json"), { auths: { [basic.host]: { auth: b64("alice:nope") } } });
    const r = await cli(["oci", "inspect", `docker://${basic.host}/seed:1`], envWith({ REGISTRY_AUTH_FILE: wrong, DOCKER_CONFIG: docker }));
    expect(r.code).toBe(4);
    const other = writeJson(join(tmp.path, "other/auth.json"), { auths: { "elsewhere.example": { auth: b64("a:b") } } });
    const ok = await cli(["oci", "inspect", `docker://${basic.host}/seed:1`], envWith({ REGISTRY_AUTH_FILE: other, DOCKER_CONFIG: docker }));
    expect(ok.code, ok.stderr).toBe(0);
  });

  it("a credsStore whose helper is missing or exits at once: an anonymous registry still works; one that asks for credentials names the helper", async () => {
    const open = await startRegistry({});
    try {
      await skopeo(["copy", "--dest-tls-verify=false", `oci:${image.path}:latest`, `docker://${open.host}/seed:1`]);
      writeFileSync(join(bin, "docker-credential-gone"), '#!/bin/sh\necho "credentials not found in native keychain"; exit 1\n');
      chmodSync(join(bin, "docker-credential-gone"), 0o755);
      for (const store of ["nosuch", "gone"]) {
        const env = envWith();
        writeJson(join(env.HOME!, ".docker/config.json"), { auths: {}, credsStore: store });
        // Only asked when the registry wants credentials; "gone" exits before reading stdin (EPIPE was a crash).
        for (let i = 0; i < 3; i++) {
          const r = await cli(["oci", "tags", `${open.host}/seed`], env);
          expect([r.code, r.stderr], store).toEqual([0, ""]);
          expect(r.stdout.trim()).toBe("1");
        }
        const denied = await cli(["oci", "inspect", `docker://${basic.host}/seed:1`], env);
        expect(denied.code, store).toBe(4);
        expect(denied.stderr.trim().split("\n")).toEqual([
          store === "nosuch"
            ? `apt-ostree: authentication required by ${basic.host}, and credential helper docker-credential-nosuch is not installed (named in the auth configuration)`
            : expect.stringMatching(new RegExp(`^apt-ostree: authentication required by ${basic.host.replace(/\./g, "\\.")} and no credentials found`)),
        ]);
      }
    } finally {
      await open.stop();
    }
  });
});

describe("Bearer tokens", () => {
  it("no credentials: an authentication error", async () => {
    const r = await cli(["oci", "inspect", `docker://${token.host}/seed:1`], envWith());
    expect(r.code).toBe(4);
  });
  it("wrong password: an authentication error naming it", async () => {
    const r = await cli(["oci", "inspect", `docker://${token.host}/seed:1`, "--creds", "alice:wrong"], envWith());
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/wrong username or password/);
  });
  it("push with a token for the repository's pull,push scope, reused for the whole push", async () => {
    token.tokenRequests.splice(0);
    const r = await cli(["oci", "push", image.path, `docker://${token.host}/team/app:1`, "--creds", `alice:${PASSWORD}`, "--jobs", "4"], envWith());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(image.digest);
    expect(token.tokenRequests).toHaveLength(1);
    expect(token.tokenRequests[0]).toMatchObject({ method: "GET", account: "alice" });
    expect(token.tokenRequests[0]!.scope).toContain("repository:team/app:pull,push");
    expect(JSON.parse(await skopeo(["inspect", "--tls-verify=false", "--creds", `alice:${PASSWORD}`, `docker://${token.host}/team/app:1`])).Digest).toBe(image.digest);
  });
  it("renews an expired token during a long operation", async () => {
    const shortLived = await startRegistry({ auth: "token", users: [{ username: "alice", password: PASSWORD, push: ["*"] }], tokenLifetime: 2 });
    const proxy = await startFaultProxy({ host: "127.0.0.1", port: shortLived.port }, [
      // the first layer check waits 3 s (Retry-After): the token expires meanwhile
      { method: "HEAD", path: /\/blobs\//, times: 1, action: { kind: "status", status: 429, retryAfter: 3 } },
    ]);
    try {
      const r = await cli(["oci", "push", image.path, `docker://${proxy.host}/slow:1`, "--creds", `alice:${PASSWORD}`, "--jobs", "1"], envWith());
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(image.digest);
      expect(shortLived.tokenRequests.length).toBeGreaterThanOrEqual(2);
      expect(shortLived.tokenRequests.length).toBeLessThanOrEqual(4);
    } finally {
      await proxy.stop();
      await shortLived.stop();
    }
  });
  it("an identity token from the auth file: OAuth2 POST with grant_type=refresh_token", async () => {
    token.tokenRequests.splice(0);
    const auth = writeJson(join(tmp.path, "identity/auth.json"), { auths: { [token.host]: { auth: b64("alice:"), identitytoken: "refresh-abc" } } });
    const r = await cli(["oci", "push", image.path, `docker://${token.host}/idtok:1`, "--authfile", auth], envWith());
    expect(r.code, r.stderr).toBe(0);
    expect(token.tokenRequests.map((t) => [t.method, t.grant])).toEqual([["POST", "refresh_token"]]);
  });
  it("a user without push right gets a clear denial", async () => {
    const r = await cli(["oci", "push", image.path, `docker://${token.host}/bobs:1`, "--creds", "bob:bobs-pw"], envWith());
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/denied: no push right/);
    const pull = await cli(["oci", "inspect", `docker://${token.host}/seed:1`, "--creds", "bob:bobs-pw"], envWith());
    expect(pull.code, pull.stderr).toBe(0);
  });
  it("cross-repository mount asks for pull on the source too", async () => {
    token.tokenRequests.splice(0);
    const r = await cli(["oci", "copy", `docker://${token.host}/seed:1`, `docker://${token.host}/mounted:1`, "--src-creds", `alice:${PASSWORD}`, "--dest-creds", `alice:${PASSWORD}`, "--json"], envWith());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ digest: image.digest, blobsMounted: 2 });
    expect(token.tokenRequests.some((t) => t.scope.includes("repository:seed:pull") && t.scope.includes("repository:mounted:pull,push"))).toBe(true);
  });
});

describe("login / logout", () => {
  it("refuses a wrong password and writes nothing", async () => {
    const env = envWith({ XDG_RUNTIME_DIR: join(tmp.path, "login-bad") });
    const r = await cli(["login", token.host, "-u", "alice", "--password-stdin"], env, "wrong\n");
    expect(r.code).toBe(4);
    expect(existsSync(join(tmp.path, "login-bad/containers/auth.json"))).toBe(false);
  });
  it("writes the containers auth file as podman does; skopeo and we read it; logout removes it", async () => {
    const run = join(tmp.path, "login-run");
    const env = envWith({ XDG_RUNTIME_DIR: run });
    const file = join(run, "containers/auth.json");
    const r = await cli(["login", token.host, "-u", "alice", "--password-stdin"], env, `${PASSWORD}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ auths: { [token.host]: { auth: b64(`alice:${PASSWORD}`) } } });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await skopeo(["inspect", "--tls-verify=false", "--authfile", file, `docker://${token.host}/seed:1`])).Digest).toBe(image.digest);
    const inspect = await cli(["oci", "inspect", `docker://${token.host}/seed:1`], env);
    expect(inspect.code, inspect.stderr).toBe(0);
    // a second registry keeps the first entry
    const b = await cli(["login", basic.host, "-u", "alice", "--password-stdin"], env, PASSWORD);
    expect(b.code, b.stderr).toBe(0);
    expect(Object.keys(JSON.parse(readFileSync(file, "utf8")).auths).sort()).toEqual([basic.host, token.host].sort());
    const out = await cli(["logout", token.host], env);
    expect(out.code, out.stderr).toBe(0);
    expect(Object.keys(JSON.parse(readFileSync(file, "utf8")).auths)).toEqual([basic.host]);
    expect((await cli(["oci", "inspect", `docker://${token.host}/seed:1`], env)).code).toBe(4);
    expect((await cli(["logout", token.host], env)).code).toBe(3);
    // Credentials in docker's config.json would still be used: logout says where they are.
    const docker = writeJson(join(env.HOME!, ".docker/config.json"), { auths: { [token.host]: { auth: b64(`alice:${PASSWORD}`) } } });
    const elsewhere = await cli(["logout", token.host], env);
    expect(elsewhere.code).toBe(3);
    expect(elsewhere.stderr.trim().split("\n")).toEqual([`apt-ostree: not logged in to ${token.host} (in ${file}); its credentials are in ${docker}, which apt-ostree still uses`]);
    // No registry is Docker Hub, as for login and docker logout.
    const hub = await cli(["logout"], env);
    expect([hub.code, hub.stderr]).toEqual([3, `apt-ostree: not logged in to docker.io (in ${file})\n`]);
    // A mistyped --authfile is not an empty one: nothing was removed, exit 3.
    const missing = await cli(["logout", "--all", "--authfile", join(run, "typo.json")], env);
    expect([missing.code, missing.stderr]).toEqual([3, `apt-ostree: auth file not found: ${join(run, "typo.json")}\n`]);
    expect(existsSync(join(run, "typo.json"))).toBe(false);
    const all = await cli(["logout", "--all"], env);
    expect([all.code, all.stderr]).toEqual([0, `apt-ostree: removed all credentials from ${file}\n`]);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ auths: {} });
    expect((await cli(["logout", "--all", basic.host], env)).code).toBe(2);
    rmSync(run, { recursive: true, force: true });
  });
  it("login and logout write through an --authfile symlink to its target, atomically", async () => {
    const dir = join(tmp.path, "login-link");
    mkdirSync(join(dir, "real"), { recursive: true });
    const target = join(dir, "real/auth.json");
    writeFileSync(target, JSON.stringify({ auths: { "elsewhere.example": { auth: b64("a:b") } } }), { mode: 0o600 });
    // A relative link, and a link to a link.
    symlinkSync("real/auth.json", join(dir, "link.json"));
    symlinkSync("link.json", join(dir, "link2.json"));
    for (const link of [join(dir, "link.json"), join(dir, "link2.json")]) {
      const r = await cli(["login", token.host, "-u", "alice", "--password-stdin", "--authfile", link], envWith(), `${PASSWORD}\n`);
      expect(r.code, r.stderr).toBe(0);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(Object.keys(JSON.parse(readFileSync(target, "utf8")).auths).sort()).toEqual(["elsewhere.example", token.host].sort());
      const out = await cli(["logout", token.host, "--authfile", link], envWith());
      expect(out.code, out.stderr).toBe(0);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(Object.keys(JSON.parse(readFileSync(target, "utf8")).auths)).toEqual(["elsewhere.example"]);
    }
    // No temporary files left beside the target or the links.
    expect(readdirSync(join(dir, "real"))).toEqual(["auth.json"]);
    expect(readdirSync(dir).sort()).toEqual(["link.json", "link2.json", "real"]);
    // A dangling link: the file is created where it points.
    const dangling = join(dir, "dangling.json");
    symlinkSync("real/new.json", dangling);
    const d = await cli(["login", token.host, "-u", "alice", "--password-stdin", "--authfile", dangling], envWith(), `${PASSWORD}\n`);
    expect(d.code, d.stderr).toBe(0);
    expect(lstatSync(dangling).isSymbolicLink()).toBe(true);
    expect(Object.keys(JSON.parse(readFileSync(join(dir, "real/new.json"), "utf8")).auths)).toEqual([token.host]);
  });
  it("login needs --password-stdin (no passwords in argv)", async () => {
    const r = await cli(["login", token.host, "-u", "alice"], envWith());
    expect(r.code).toBe(2);
  });
  it("on a terminal without --password-stdin, login asks for the password and does not echo it", () => {
    const run = join(tmp.path, "login-tty");
    const [cmd, ...pre] = binaryCommand();
    // A pseudo-terminal: wait for the prompt, type the password and Enter, read to the end.
    const script = [
      "import os, pty, sys, time",
      "pid, fd = pty.fork()",
      "if pid == 0:",
      "    os.execvp(sys.argv[1], sys.argv[1:])",
      "out = b''",
      "def read(until, seconds):",
      "    global out",
      "    end = time.time() + seconds",
      "    while (until is None or until not in out) and time.time() < end:",
      "        try:",
      "            data = os.read(fd, 1024)",
      "        except OSError:",
      "            return",
      "        if not data:",
      "            return",
      "        out += data",
      "read(b'Password: ', 30)",
      "os.write(fd, os.environ['TYPED'].encode() + (b'' if os.environ['TYPED'] == '\\x03' else b'\\r'))",
      "read(None, 60)",
      "status = os.waitpid(pid, 0)[1]",
      "sys.stdout.write(str(os.waitstatus_to_exitcode(status)) + '|' + out.decode(errors='replace'))",
    ].join("\n");
    const env = Object.fromEntries(Object.entries({ ...process.env, ...envWith({ XDG_RUNTIME_DIR: run }), TYPED: PASSWORD, NO_COLOR: "1" }).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const login = (typed: string) => {
      const r = spawnSync("python3", ["-c", script, cmd!, ...pre, "login", basic.host, "-u", "alice"], { env: { ...env, TYPED: typed }, encoding: "utf8", timeout: 120_000 });
      return [r.stdout.slice(0, r.stdout.indexOf("|")), r.stdout.slice(r.stdout.indexOf("|") + 1) + r.stderr];
    };
    // Ctrl-C at the prompt is an interrupt: exit 130, nothing written.
    const [cancelled, said] = login("\u0003");
    expect([cancelled, said]).toEqual(["130", expect.stringContaining("apt-ostree: interrupted")]);
    expect(existsSync(join(run, "containers/auth.json"))).toBe(false);
    const [code, transcript] = login(PASSWORD);
    expect(code, transcript).toBe("0");
    expect(transcript).toMatch(/^Password: /);
    expect(transcript).toContain(`logged in to ${basic.host}`);
    expect(transcript).not.toContain(PASSWORD);
    const auths = JSON.parse(readFileSync(join(run, "containers/auth.json"), "utf8")).auths;
    expect(Buffer.from(auths[basic.host].auth, "base64").toString()).toBe(`alice:${PASSWORD}`);
  });
  it("a user name with a colon is a usage error (Basic auth would split it)", async () => {
    const run = join(tmp.path, "login-colon");
    const r = await cli(["login", token.host, "-u", "alice:x", "--password-stdin"], envWith({ XDG_RUNTIME_DIR: run }), `${PASSWORD}\n`);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual(["apt-ostree: --username may not contain ':'"]);
    expect(existsSync(join(run, "containers/auth.json"))).toBe(false);
  });
});

describe("secrets", () => {
  it("never appear in any output", () => {
    expect(outputs.length).toBeGreaterThan(10);
    for (const r of outputs) {
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
      expect(r.stdout + r.stderr).not.toContain(b64(`alice:${PASSWORD}`));
      expect(r.stdout + r.stderr).not.toContain("refresh-abc");
    }
  });
});

describe("redirects", () => {
  it("never sends Authorization to another host after a redirect", async () => {
    const { createServer } = await import("node:http");
    const { createHash } = await import("node:crypto");
    const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
    const layer = Buffer.from("layer bytes ".repeat(1000));
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha(layer)] } }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha(layer), size: layer.length }],
    }));
    const blobs = new Map([[sha(layer), layer], [sha(config), config]]);
    const storageSaw: (string | undefined)[] = [];
    const storage = createServer((req, res) => {
      storageSaw.push(req.headers.authorization);
      const blob = blobs.get(req.url!.slice(1));
      if (!blob) return void res.writeHead(404).end();
      res.writeHead(200, { "content-length": String(blob.length) }).end(blob);
    });
    const registrySaw: (string | undefined)[] = [];
    const fake = createServer((req, res) => {
      registrySaw.push(req.headers.authorization);
      if (req.headers.authorization !== `Basic ${b64(`alice:${PASSWORD}`)}`) {
        return void res.writeHead(401, { "www-authenticate": 'Basic realm="fake"', "content-type": "application/json" }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      }
      if (req.url === "/v2/r/manifests/1") {
        return void res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json", "content-length": String(manifest.length) }).end(manifest);
      }
      const m = /^\/v2\/r\/blobs\/(sha256:[a-f0-9]+)$/.exec(req.url ?? "");
      if (m) return void res.writeHead(307, { location: `http://127.0.0.1:${(storage.address() as { port: number }).port}/${m[1]}` }).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => storage.listen(0, "127.0.0.1", r));
    await new Promise<void>((r) => fake.listen(0, "127.0.0.1", r));
    try {
      const port = (fake.address() as { port: number }).port;
      const out = join(tmp.path, "redirected");
      const r = await cli(["oci", "pull", `docker://127.0.0.1:${port}/r:1`, out, "--creds", `alice:${PASSWORD}`], envWith());
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(sha(manifest));
      expect(storageSaw.length).toBe(2);
      expect(storageSaw.every((a) => a === undefined)).toBe(true);
      expect(registrySaw.some((a) => a !== undefined)).toBe(true);
    } finally {
      await new Promise<void>((r) => fake.close(() => r()));
      await new Promise<void>((r) => storage.close(() => r()));
    }
  });
});
