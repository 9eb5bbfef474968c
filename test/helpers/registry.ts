// Starts Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1 with a random free port and
// a temporary storage directory; optionally with htpasswd Basic auth, or Bearer token auth backed
// by a token server run in this process. Call stop() in afterAll.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { createHash, generateKeyPairSync, createSign, randomBytes, X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RegistryUser {
  username: string;
  password: string;
  /** Repositories (exact names or "*") this user may push to; pull is allowed everywhere. */
  push?: string[];
}

export interface RegistryOptions {
  auth?: "none" | "basic" | "token";
  users?: RegistryUser[];
  /** Token server: seconds a token lives. */
  tokenLifetime?: number;
  /** Token server: accept anonymous pull. */
  anonymousPull?: boolean;
  /** Token server: refresh tokens accepted by the OAuth2 POST → user name. */
  refreshTokens?: Record<string, string>;
  /** Serve https with a certificate from a CA made for the test (see `certDir`). */
  tls?: boolean;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  url: string;
  storage: string;
  /** Requests the token server saw (method and grant), for assertions. */
  tokenRequests: { method: string; scope: string[]; account?: string; grant?: string }[];
  /** With `tls`: a directory holding the CA as ca.crt (for --cert-dir). */
  certDir?: string;
  /** Access log of the registry: method and path of every request. */
  requests(): { method: string; path: string; status: number }[];
  clearLog(): void;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64").replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/** A self-signed certificate for the token signer (the registry wants a bundle to verify JWTs). */
function signer(dir: string): { keyPem: string; certPath: string; kid: string } {
  const keyPath = join(dir, "token.key");
  const certPath = join(dir, "token.crt");
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", "/CN=token-signer"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  const keyPem = readFileSync(keyPath, "utf8") as string;
  // libtrust key id: base32 of the first 240 bits of SHA-256 of the DER public key, in groups of 4.
  const der = new X509Certificate(readFileSync(certPath)).publicKey.export({ type: "spki", format: "der" });
  const digest = createHash("sha256").update(der).digest().subarray(0, 30);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const byte of digest) bits += byte.toString(2).padStart(8, "0");
  let b32 = "";
  for (let i = 0; i + 5 <= bits.length; i += 5) b32 += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  const kid = b32.match(/.{4}/g)!.join(":");
  return { keyPem, certPath, kid };
}

function jwt(keyPem: string, kid: string, claims: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ alg: "ES256", typ: "JWT", kid }));
  const payload = b64url(JSON.stringify(claims));
  const sign = createSign("SHA256");
  sign.update(`${header}.${payload}`);
  const sig = sign.sign({ key: keyPem, dsaEncoding: "ieee-p1363" });
  return `${header}.${payload}.${b64url(sig)}`;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(process.env.APT_OSTREE_TEST_TMP ?? tmpdir(), "registry-"));
  const storage = join(dir, "storage");
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const users = options.users ?? [];
  const tokenRequests: TestRegistry["tokenRequests"] = [];
  let tokenServer: Server | undefined;
  let authYaml = "";
  if (options.auth === "basic") {
    const file = join(dir, "htpasswd");
    writeFileSync(file, "");
    for (const u of users) {
      const r = spawnSync("htpasswd", ["-B", "-b", "-C", "5", file, u.username, u.password], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    }
    authYaml = `auth:\n  htpasswd:\n    realm: test-registry\n    path: ${file}\n`;
  } else if (options.auth === "token") {
    const { keyPem, certPath, kid } = signer(dir);
    const tokenPort = await freePort();
    const lifetime = options.tokenLifetime ?? 300;
    tokenServer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (d) => chunks.push(d));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", `http://127.0.0.1:${tokenPort}`);
        let user: string | undefined;
        let scopes: string[];
        let grant: string | undefined;
        if (req.method === "POST") {
          const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
          grant = form.get("grant_type") ?? undefined;
          if (grant === "refresh_token") {
            user = options.refreshTokens?.[form.get("refresh_token") ?? ""];
            if (!user) return void res.writeHead(401, { "content-type": "application/json" }).end('{"error":"invalid_grant"}');
          } else if (grant === "password") {
            const u = users.find((x) => x.username === form.get("username") && x.password === form.get("password"));
            if (!u) return void res.writeHead(401).end();
            user = u.username;
          } else return void res.writeHead(400).end();
          scopes = (form.get("scope") ?? "").split(" ").filter(Boolean);
        } else {
          scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
          const auth = req.headers.authorization;
          if (auth) {
            const [u, ...p] = Buffer.from(auth.replace(/^Basic /, ""), "base64").toString("utf8").split(":");
            const found = users.find((x) => x.username === u && x.password === p.join(":"));
            if (!found) return void res.writeHead(401, { "content-type": "application/json" }).end('{"details":"wrong credentials"}');
            user = found.username;
          } else if (!options.anonymousPull) {
            return void res.writeHead(401, { "www-authenticate": 'Basic realm="token"' }).end();
          }
        }
        tokenRequests.push({ method: req.method ?? "GET", scope: scopes, account: user, grant });
        const access = scopes.map((s) => {
          const [type, name, actions] = [s.split(":")[0], s.split(":").slice(1, -1).join(":"), s.split(":").pop()!];
          const u = users.find((x) => x.username === user);
          const allowed = actions.split(",").filter((a) => a === "pull" ? Boolean(user) || options.anonymousPull : a === "push" && Boolean(u?.push?.some((r) => r === "*" || r === name)));
          return { type, name, actions: allowed };
        });
        const now = Math.floor(Date.now() / 1000);
        const token = jwt(keyPem, kid, { iss: "test-issuer", sub: user ?? "", aud: "test-registry", exp: now + lifetime, nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(req.method === "POST" ? { access_token: token, expires_in: lifetime } : { token, expires_in: lifetime, issued_at: new Date().toISOString() }));
      });
    });
    await new Promise<void>((r) => tokenServer!.listen(tokenPort, "127.0.0.1", r));
    authYaml = `auth:\n  token:\n    realm: http://127.0.0.1:${tokenPort}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: ${certPath}\n`;
  }
  let tlsYaml = "";
  let certDir: string | undefined;
  if (options.tls) {
    certDir = join(dir, "certs");
    fs.mkdirSync(certDir);
    const ssl = (args: string[]) => {
      const r = spawnSync("openssl", args, { encoding: "utf8", cwd: dir });
      if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
    };
    ssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", join(certDir, "ca.crt"), "-days", "2", "-subj", "/CN=apt-ostree test CA"]);
    ssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
    writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n");
    ssl(["x509", "-req", "-in", "server.csr", "-CA", join(certDir, "ca.crt"), "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf"]);
    tlsYaml = `  tls:\n    certificate: ${join(dir, "server.crt")}\n    key: ${join(dir, "server.key")}\n`;
  }
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1
log:
  level: info
  formatter: json
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ${host}
${tlsYaml}${authYaml}`,
  );
  const log: { method: string; path: string; status: number }[] = [];
  const child: ChildProcess = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, OTEL_TRACES_EXPORTER: "none" } });
  let buffered = "";
  const onData = (d: Buffer) => {
    buffered += d.toString("utf8");
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (process.env.DEBUG_REGISTRY) console.error(line);
        if (entry["http.request.method"] && entry["http.response.status"] !== undefined) {
          log.push({ method: String(entry["http.request.method"]), path: String(entry["http.request.uri"]), status: Number(entry["http.response.status"]) });
        }
      } catch {
        if (process.env.DEBUG_REGISTRY) console.error(line);
      }
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  // Wait until it answers.
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${buffered}`);
    try {
      const r = await fetch(`http://${host}/v2/`);
      await r.arrayBuffer();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error("docker-registry did not start in 15 s");
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    host,
    port,
    url: `${options.tls ? "https" : "http"}://${host}`,
    storage,
    certDir,
    tokenRequests,
    requests: () => [...log],
    clearLog: () => void log.splice(0),
    async stop() {
      child.kill("SIGTERM");
      await new Promise<void>((r) => {
        if (child.exitCode !== null) return r();
        const t = setTimeout(() => (child.kill("SIGKILL"), r()), 5_000);
        child.once("exit", () => (clearTimeout(t), r()));
      });
      if (tokenServer) await new Promise<void>((r) => tokenServer!.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Test images (made with umoci, which the tests use as an independent producer)

export interface TestImage {
  /** The OCI layout directory. */
  path: string;
  tag: string;
  /** Digest of the manifest (or index) the tag names. */
  digest: string;
}

function umoci(args: string[]): void {
  const r = spawnSync("umoci", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`umoci ${args.join(" ")} failed: ${r.stderr}`);
}

function readIndex(layout: string): { manifests: { digest: string; size: number; mediaType: string; annotations?: Record<string, string> }[] } {
  return JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
}

/** An image with one layer per entry of `layerSizes` (random bytes, so gzip keeps the size). */
export function makeTestImage(layout: string, options: { tag?: string; layerSizes?: number[]; labels?: Record<string, string>; arch?: string } = {}): TestImage {
  const tag = options.tag ?? "latest";
  if (!fs.existsSync(join(layout, "index.json"))) umoci(["init", "--layout", layout]);
  umoci(["new", "--image", `${layout}:${tag}`]);
  const scratch = mkdtempSync(join(tmpdir(), "layer-"));
  try {
    (options.layerSizes ?? [200_000]).forEach((size, i) => {
      const d = join(scratch, `l${i}`);
      fs.mkdirSync(d);
      fs.writeFileSync(join(d, `data-${i}`), randomBytes(size));
      umoci(["insert", "--rootless", "--image", `${layout}:${tag}`, d, `/data${i}`]);
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const labelArgs = Object.entries(options.labels ?? {}).flatMap(([k, v]) => ["--config.label", `${k}=${v}`]);
  umoci(["config", "--image", `${layout}:${tag}`, "--architecture", options.arch ?? "amd64", "--os", "linux", ...labelArgs]);
  umoci(["gc", "--layout", layout]);
  const entry = readIndex(layout).manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag)!;
  return { path: layout, tag, digest: entry.digest };
}

/** A multi-arch image: an index over one image per architecture, tagged `tag` in the layout. */
export function makeMultiArchImage(layout: string, arches: string[], tag = "multi"): TestImage & { platforms: Record<string, string> } {
  const platforms: Record<string, string> = {};
  for (const arch of arches) platforms[arch] = makeTestImage(layout, { tag: `img-${arch}`, arch, layerSizes: [100_000 + arches.indexOf(arch)] }).digest;
  const entries = readIndex(layout).manifests;
  const manifests = arches.map((arch) => {
    const e = entries.find((m) => m.digest === platforms[arch])!;
    return { mediaType: e.mediaType, digest: e.digest, size: e.size, platform: { architecture: arch, os: "linux" } };
  });
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  fs.writeFileSync(join(layout, "blobs/sha256", digest.slice(7)), bytes);
  const index = readIndex(layout);
  index.manifests.push({ mediaType: "application/vnd.oci.image.index.v1+json", digest, size: bytes.length, annotations: { "org.opencontainers.image.ref.name": tag } });
  fs.writeFileSync(join(layout, "index.json"), JSON.stringify(index));
  return { path: layout, tag, digest, platforms };
}

/**
 * Runs skopeo; resolves with stdout, rejects with stderr. Asynchronous on purpose: the registry's
 * log pipe and the token server live in this process and must keep being served meanwhile.
 */
export function skopeo(args: string[], env?: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("skopeo", args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`skopeo ${args.join(" ")} failed (${code ?? signal}): ${err}`));
    });
  });
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}
