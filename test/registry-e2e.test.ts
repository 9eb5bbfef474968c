// The registry commands end to end: the compiled binary against Debian's docker-registry on
// 127.0.0.1, cross-checked with skopeo (what we push skopeo reads back with the same digest, what
// skopeo pushes we pull), plus tags, inspect, copy (with mounts), multi-arch, chunked uploads and a
// re-push that makes only HEAD requests.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binaryCommand, runCli, tempDir } from "./helpers/cli.ts";
import { makeDpkgTree } from "./helpers/tree.ts";
import { startFaultProxy, type FaultProxy } from "./helpers/faultproxy.ts";
import { makeMultiArchImage, makeTestImage, sha256Hex, skopeo, startRegistry, type TestImage, type TestRegistry } from "./helpers/registry.ts";

const tmp = tempDir("registry-e2e-");
const home = join(tmp.path, "home");
/** No credentials from the developer's machine. */
const env = { HOME: home, XDG_RUNTIME_DIR: undefined, XDG_CONFIG_HOME: undefined, DOCKER_CONFIG: undefined, REGISTRY_AUTH_FILE: undefined };
const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, { env: { ...env, ...extra }, timeoutMs: 120_000 });

let registry: TestRegistry;
let other: TestRegistry;
let proxy: FaultProxy;
let image: TestImage;
let multi: TestImage & { platforms: Record<string, string> };

beforeAll(async () => {
  mkdirSync(home, { recursive: true });
  registry = await startRegistry();
  other = await startRegistry();
  proxy = await startFaultProxy({ host: "127.0.0.1", port: registry.port });
  image = makeTestImage(join(tmp.path, "img"), { layerSizes: [1_500_000, 700_000, 300_000], labels: { "org.example.team": "os" } });
  multi = makeMultiArchImage(join(tmp.path, "multi"), ["amd64", "arm64"]);
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await other?.stop();
  tmp.cleanup();
});

/** Every blob of a layout matches its file name; returns the blob names. */
function verifyLayout(dir: string): string[] {
  const names = readdirSync(join(dir, "blobs/sha256")).filter((n) => !n.startsWith("."));
  for (const n of names) expect(sha256Hex(readFileSync(join(dir, "blobs/sha256", n)))).toBe(n);
  return names;
}

describe("push", () => {
  it("pushes an OCI layout; skopeo inspect and copy read it back with the same digest", async () => {
    const r = await cli(["oci", "push", `oci:${image.path}:latest`, `docker://${registry.host}/demo:latest`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(image.digest);
    const info = JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${registry.host}/demo:latest`]));
    expect(info.Digest).toBe(image.digest);
    expect(info.Labels).toEqual({ "org.example.team": "os" });
    expect(sha256Hex(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/demo:latest`]))).toBe(image.digest.slice(7));
    const back = join(tmp.path, "skopeo-back");
    await skopeo(["copy", "--src-tls-verify=false", `docker://${registry.host}/demo:latest`, `oci:${back}:x`]);
    const index = JSON.parse(readFileSync(join(back, "index.json"), "utf8"));
    expect(index.manifests[0].digest).toBe(image.digest);
    verifyLayout(back);
  });

  it("accepts the original design's form and a plain HOST/REPO:TAG", async () => {
    const a = await cli(["oci", "push", image.path, registry.host, "demo:v2"]);
    expect(a.code).toBe(0);
    expect(a.stdout.trim()).toBe(image.digest);
    const b = await cli(["oci", "push", image.path, `${registry.host}/team/demo:v3`, "--json"]);
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ digest: image.digest, reference: `${registry.host}/team/demo:v3` });
  });

  it("pushes an oci-archive and a docker-archive made by skopeo", async () => {
    const archive = join(tmp.path, "img.oci.tar");
    await skopeo(["copy", `oci:${image.path}:latest`, `oci-archive:${archive}:latest`]);
    const a = await cli(["oci", "push", `oci-archive:${archive}`, `docker://${registry.host}/fromarchive:1`]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout.trim()).toBe(image.digest);
    const docker = join(tmp.path, "img.docker.tar");
    await skopeo(["copy", `oci:${image.path}:latest`, `docker-archive:${docker}:demo:latest`]);
    const d = await cli(["oci", "push", `docker-archive:${docker}`, `docker://${registry.host}/fromdocker:1`]);
    expect(d.code, d.stderr).toBe(0);
    // a docker-archive gets a synthesised manifest: skopeo must read what we stored
    const info = JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${registry.host}/fromdocker:1`]));
    expect(info.Digest).toBe(d.stdout.trim());
    expect(info.Layers).toHaveLength(3);
  });

  it("a re-push of an image the registry has makes only HEAD requests", async () => {
    const first = await cli(["oci", "push", image.path, `docker://${proxy.host}/repush:1`]);
    expect(first.code, first.stderr).toBe(0);
    proxy.log.splice(0);
    const again = await cli(["oci", "push", image.path, `docker://${proxy.host}/repush:1`, "--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ digest: image.digest, unchanged: true, blobsUploaded: 0 });
    expect(proxy.log.length).toBeGreaterThan(0);
    expect(proxy.log.filter((l) => l.method !== "HEAD")).toEqual([]);
    // to a new tag: blob HEADs, then only the manifest PUT
    proxy.log.splice(0);
    const tag = await cli(["oci", "push", image.path, `docker://${proxy.host}/repush:2`]);
    expect(tag.code, tag.stderr).toBe(0);
    expect(proxy.log.filter((l) => l.method !== "HEAD").map((l) => `${l.method} ${l.path}`)).toEqual(["PUT /v2/repush/manifests/2"]);
  });

  it("an interrupted push (SIGINT) closes its upload sessions and tags nothing", async () => {
    // The layers' PUTs are never answered by the proxy (which reads them, so it sees them end):
    // the sessions are open on the registry when the interrupt comes.
    proxy.setFaults([{ method: "PUT", path: /\/blobs\/uploads\//, times: 100, action: { kind: "stall" } }]);
    proxy.log.splice(0);
    // An open session is a directory with `startedat` and `data`; a cancelled one keeps only its
    // hash states (docker-registry's DELETE removes the rest).
    const uploads = join(registry.storage, "docker/registry/v2/repositories/interrupted/_uploads");
    const open = () => (existsSync(uploads) ? readdirSync(uploads) : []).filter((id) => existsSync(join(uploads, id, "startedat")));
    try {
      const [bin, ...pre] = binaryCommand();
      const child = spawn(bin, [...pre, "oci", "push", image.path, `docker://${proxy.host}/interrupted:1`], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env, HOME: home } as NodeJS.ProcessEnv });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      for (let i = 0; i < 500 && proxy.log.filter((l) => l.method === "PUT").length < 3; i++) await new Promise((r) => setTimeout(r, 10));
      expect(open().length).toBe(3);
      const started = Date.now();
      child.kill("SIGINT");
      const code = await new Promise<number>((resolve) => child.on("close", (c, sig) => resolve(c ?? (sig ? 128 : 1))));
      expect([code, stderr]).toEqual([130, "apt-ostree: interrupted (SIGINT); open uploads abandoned\n"]);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(proxy.log.filter((l) => l.method === "DELETE")).toHaveLength(3);
      expect(open()).toEqual([]);
    } finally {
      proxy.setFaults([]);
    }
    const tags = await cli(["oci", "tags", `${registry.host}/interrupted`]);
    expect(tags.code).toBe(3);
  });

  it("shows one progress line on a terminal that moves while a layer uploads", async () => {
    const img = makeTestImage(join(tmp.path, "img-progress"), { layerSizes: [16 << 20] });
    proxy.setFaults([{ method: "PUT", path: /\/blobs\/uploads\//, times: 100, action: { kind: "throttle", bytesPerSecond: 8 << 20 } }]);
    const typescript = join(tmp.path, "progress.typescript");
    try {
      const [bin, ...pre] = binaryCommand();
      const command = [bin, ...pre, "oci", "push", img.path, `docker://${proxy.host}/progress:1`].map((a) => `'${a}'`).join(" ");
      // Not execFileSync: the proxy answers from this process's event loop.
      const child = spawn("script", ["-qec", command, typescript], { env: { ...process.env, ...env, HOME: home, TERM: "xterm", CI: "" } as NodeJS.ProcessEnv, stdio: "ignore" });
      const code = await new Promise<number | null>((done) => child.on("close", done));
      expect(code, readFileSync(typescript, "latin1")).toBe(0);
    } finally {
      proxy.setFaults([]);
    }
    // The line is rewritten in place: `\r\x1b[2K` then the figures, all blobs on one line.
    const lines = readFileSync(typescript, "latin1").split("\r\x1b[2K").filter((l) => l.startsWith("push "));
    const percents = lines.map((l) => Number(/ (\d+)% \(\d+\/2 blobs\)/.exec(l)?.[1]));
    expect(percents.every((p) => p >= 0 && p <= 100), lines.join("|")).toBe(true);
    expect(percents.filter((p) => p > 0 && p < 100).length, lines.join("|")).toBeGreaterThanOrEqual(3);
    expect(lines.at(-1)).toMatch(/^push 16\.\d MiB \/ 16\.\d MiB 100% \(2\/2 blobs\)$/);
  });

  it("keeps --jobs blobs in flight, config and manifest last", async () => {
    const img = makeTestImage(join(tmp.path, "img4"), { layerSizes: [100_000, 110_000, 120_000, 130_000] });
    for (const [jobs, expected] of [[1, 1], [3, 3]] as const) {
      proxy.log.splice(0);
      for (const k of Object.keys(proxy.maxInFlight)) delete proxy.maxInFlight[k];
      proxy.setFaults([{ method: "PUT", path: /\/blobs\/uploads\//, times: 100, action: { kind: "delay", ms: 300 } }]);
      const r = await cli(["oci", "push", img.path, `docker://${proxy.host}/jobs${jobs}:1`, "--jobs", String(jobs)]);
      proxy.setFaults([]);
      expect(r.code, r.stderr).toBe(0);
      expect(proxy.maxInFlight.PUT).toBe(expected);
      const puts = proxy.log.filter((l) => l.method === "PUT");
      const manifest = JSON.parse(readFileSync(join(img.path, "blobs/sha256", img.digest.slice(7)), "utf8"));
      const configPut = puts.find((l) => l.path.includes(manifest.config.digest.slice(7)))!;
      const layerPuts = puts.filter((l) => manifest.layers.some((x: { digest: string }) => l.path.includes(x.digest.slice(7))));
      expect(layerPuts).toHaveLength(4);
      for (const l of layerPuts) expect(l.end!).toBeLessThanOrEqual(configPut.start);
      expect(puts[puts.length - 1]!.path).toBe(`/v2/jobs${jobs}/manifests/1`);
    }
  });

  it("uploads in chunks when asked, with the same digest", async () => {
    proxy.log.splice(0);
    const r = await cli(["oci", "push", image.path, `docker://${proxy.host}/chunked:1`, "--chunk-size", "512KiB", "--jobs", "2"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(image.digest);
    const patches = proxy.log.filter((l) => l.method === "PATCH");
    expect(patches.length).toBeGreaterThanOrEqual(3 + 2); // 1.5 MB in 3 chunks, 700 kB in 2
    expect(JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${registry.host}/chunked:1`])).Digest).toBe(image.digest);
  });

  it("pushes a multi-arch index after its children", async () => {
    const r = await cli(["oci", "push", `oci:${multi.path}:multi`, `docker://${registry.host}/multi:1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(multi.digest);
    const raw = JSON.parse(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/multi:1`]));
    expect(raw.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture)).toEqual(["amd64", "arm64"]);
    const arm = JSON.parse(await skopeo(["inspect", "--override-arch", "arm64", "--tls-verify=false", `docker://${registry.host}/multi:1`]));
    expect(arm.Architecture).toBe("arm64");
  });
});

describe("pull", () => {
  it("pulls what skopeo pushed, verifying every blob", async () => {
    await skopeo(["copy", "--dest-tls-verify=false", `oci:${image.path}:latest`, `docker://${registry.host}/byskopeo:1`]);
    const expected = JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${registry.host}/byskopeo:1`])).Digest;
    const out = join(tmp.path, "pulled");
    const r = await cli(["oci", "pull", `docker://${registry.host}/byskopeo:1`, `oci:${out}:one`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(expected);
    const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8"));
    expect(index.manifests[0]).toMatchObject({ digest: expected, annotations: { "org.opencontainers.image.ref.name": "one" } });
    expect(verifyLayout(out)).toHaveLength(5); // manifest, config, three layers
    // skopeo reads our layout
    expect(JSON.parse(await skopeo(["inspect", `oci:${out}:one`])).Digest).toBe(expected);
    // oci:PATH:TAG into that layout adds an image; the blobs it already has are not downloaded again.
    const second = await cli(["oci", "pull", `docker://${registry.host}/multi:1`, `oci:${out}:two`, "--arch", "arm64", "--json"]);
    expect(second.code, second.stderr).toBe(0);
    const tags = JSON.parse(readFileSync(join(out, "index.json"), "utf8")).manifests.map((m: any) => m.annotations["org.opencontainers.image.ref.name"]);
    expect(tags).toEqual(["one", "two"]);
    expect(JSON.parse(await skopeo(["inspect", `oci:${out}:two`])).Digest).toBe(multi.platforms.arm64);
    expect(JSON.parse(await skopeo(["inspect", `oci:${out}:one`])).Digest).toBe(expected);
    verifyLayout(out);
    const third = await cli(["oci", "pull", `docker://${registry.host}/byskopeo:1`, `oci:${out}:three`, "--json"]);
    expect(third.code, third.stderr).toBe(0);
    expect(JSON.parse(third.stdout).bytes).toBe(0); // every blob was there
    // One image, not an index: its platform is its config's.
    expect(JSON.parse(third.stdout).platforms).toEqual(["linux/amd64"]);
  });

  it("refuses an existing output without --force, replaces it with --force", async () => {
    const out = join(tmp.path, "pulled-twice");
    expect((await cli(["oci", "pull", `docker://${registry.host}/demo:latest`, out])).code).toBe(0);
    const again = await cli(["oci", "pull", `docker://${registry.host}/demo:latest`, out]);
    expect(again.code).toBe(6);
    expect((await cli(["oci", "pull", `docker://${registry.host}/demo:latest`, out, "--force"])).code).toBe(0);
  });

  it("pulls into an oci-archive", async () => {
    const out = join(tmp.path, "pulled.tar");
    const r = await cli(["oci", "pull", `docker://${registry.host}/demo:latest`, `oci-archive:${out}:latest`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(await skopeo(["inspect", `oci-archive:${out}:latest`])).Digest).toBe(image.digest);
  });

  it("picks a platform of a multi-arch image, or keeps them all", async () => {
    const arm = join(tmp.path, "multi-arm");
    const r = await cli(["oci", "pull", `docker://${registry.host}/multi:1`, arm, "--arch", "arm64", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ digest: multi.platforms.arm64, sourceDigest: multi.digest, platforms: ["linux/arm64"] });
    const all = join(tmp.path, "multi-all");
    const a = await cli(["oci", "pull", `docker://${registry.host}/multi:1`, all, "--all"]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout.trim()).toBe(multi.digest);
    verifyLayout(all);
    // The pulled index, inspected locally as in the registry: every platform, the one asked for.
    const local = JSON.parse((await cli(["oci", "inspect", `oci:${all}`, "--arch", "arm64", "--json"])).stdout);
    expect(local).toMatchObject({ name: `oci:${all}`, digest: multi.digest, manifestDigest: multi.platforms.arm64, architecture: "arm64" });
    expect(local.platforms.map((p: { platform: string }) => p.platform)).toEqual(["linux/amd64", "linux/arm64"]);
    const rawLocal = await cli(["oci", "inspect", `oci:${all}`, "--raw"]);
    expect(sha256Hex(rawLocal.stdout)).toBe(multi.digest.slice(7));
    const none = await cli(["oci", "pull", `docker://${registry.host}/multi:1`, join(tmp.path, "multi-none"), "--arch", "s390x"]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/linux\/s390x/);
    expect(existsSync(join(tmp.path, "multi-none"))).toBe(false);
  });
});

describe("tags, inspect, copy", () => {
  it("lists tags", async () => {
    const r = await cli(["oci", "tags", `${registry.host}/demo`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").sort()).toEqual(["latest", "v2"]);
    const j = await cli(["oci", "tags", `docker://${registry.host}/demo`, "--json"]);
    expect(JSON.parse(j.stdout).tags.sort()).toEqual(["latest", "v2"]);
  });

  it("follows Link pagination (registry 2.8 does not paginate tags: a small fake one does)", async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url ?? "");
      const url = new URL(req.url ?? "/", "http://x");
      const last = url.searchParams.get("last");
      const all = ["a", "b", "c", "d", "e"];
      const from = last ? all.indexOf(last) + 1 : 0;
      const n = Number(url.searchParams.get("n") ?? 100);
      const page = all.slice(from, from + n);
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (from + n < all.length) {
        const next = `/v2/paged/tags/list?n=${n}&last=${page[page.length - 1]}`;
        // one relative link, then an absolute one
        headers.link = `<${from === 0 ? next : `http://127.0.0.1:${port}${next}`}>; rel="next"`;
      }
      res.writeHead(200, headers).end(JSON.stringify({ name: "paged", tags: page }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await cli(["oci", "tags", `127.0.0.1:${port}/paged`, "--page-size", "2"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split("\n")).toEqual(["a", "b", "c", "d", "e"]);
      expect(seen).toEqual(["/v2/paged/tags/list?n=2", "/v2/paged/tags/list?n=2&last=b", "/v2/paged/tags/list?n=2&last=d"]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("inspects: digest, platforms, layers, labels, --raw bytes and --config", async () => {
    const r = await cli(["oci", "inspect", `docker://${registry.host}/demo:latest`, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ digest: image.digest, mediaType: "application/vnd.oci.image.manifest.v1+json", labels: { "org.example.team": "os" }, architecture: "amd64", os: "linux" });
    expect(info.layers).toHaveLength(3);
    const raw = await cli(["oci", "inspect", "--raw", `docker://${registry.host}/demo:latest`]);
    expect(sha256Hex(raw.stdout)).toBe(image.digest.slice(7));
    const config = await cli(["oci", "inspect", "--config", `docker://${registry.host}/demo:latest`]);
    expect(JSON.parse(config.stdout).config.Labels).toEqual({ "org.example.team": "os" });
    // --config --raw: the config's bytes too, as skopeo (not the manifest).
    const rawConfig = await cli(["oci", "inspect", "--raw", "--config", `docker://${registry.host}/demo:latest`]);
    expect(rawConfig.stdout).toBe(config.stdout);
    const m = await cli(["oci", "inspect", `docker://${registry.host}/multi:1`, "--json"]);
    expect(JSON.parse(m.stdout).platforms.map((p: { platform: string }) => p.platform)).toEqual(["linux/amd64", "linux/arm64"]);
    const text = await cli(["oci", "inspect", `docker://${registry.host}/demo:latest`]);
    expect(text.stdout).toContain(`Digest:     ${image.digest}`);
    // Layer annotations: which packages each layer of a package-split image holds.
    const tree = join(tmp.path, "dpkg-tree");
    makeDpkgTree(tree);
    const built = await cli(["oci", "build", "--rootfs", tree, "--output", `oci:${join(tmp.path, "split")}:1`, "--max-layers", "3"]);
    expect(built.code, built.stderr).toBe(0);
    expect((await cli(["oci", "push", `oci:${join(tmp.path, "split")}:1`, `docker://${registry.host}/split:1`])).code).toBe(0);
    const split = JSON.parse((await cli(["oci", "inspect", `docker://${registry.host}/split:1`, "--json"])).stdout);
    expect(split.layers.map((l: { annotations?: Record<string, string> }) => l.annotations?.["ostree.components"])).toEqual(["big", undefined]);
    expect((await cli(["oci", "inspect", `docker://${registry.host}/split:1`])).stdout).toMatch(/^ {4}ostree\.components=big$/m);
  });

  it("copies within a registry by mounting, and across registries by streaming", async () => {
    const same = await cli(["oci", "copy", `docker://${registry.host}/demo:latest`, `docker://${registry.host}/copied/demo:1`, "--json"]);
    expect(same.code, same.stderr).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ digest: image.digest, blobsMounted: 4, blobsUploaded: 0 });
    // The fields README's `--json` section lists for a registry copy.
    expect(Object.keys(JSON.parse(same.stdout)).sort()).toEqual(["blobsMounted", "blobsSkipped", "blobsUploaded", "bytesSent", "digest", "mediaType", "reference", "seconds", "unchanged"]);
    const across = await cli(["oci", "copy", `docker://${registry.host}/multi:1`, `docker://${other.host}/multi:copy`, "--json"]);
    expect(across.code, across.stderr).toBe(0);
    expect(JSON.parse(across.stdout)).toMatchObject({ digest: multi.digest, blobsMounted: 0 });
    expect(JSON.parse(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${other.host}/multi:copy`])).manifests).toHaveLength(2);
    expect(sha256Hex(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${other.host}/multi:copy`]))).toBe(multi.digest.slice(7));
    await skopeo(["copy", "--all", "--src-tls-verify=false", `docker://${other.host}/multi:copy`, `oci:${join(tmp.path, "copy-check")}:x`]);
    // A local image on one side: copy pushes or pulls, as skopeo copy does.
    const up = await cli(["oci", "copy", `oci:${image.path}:${image.tag}`, `docker://${other.host}/from-local:1`]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout.trim()).toBe(image.digest);
    const down = await cli(["oci", "copy", `docker://${other.host}/multi:copy`, `oci:${join(tmp.path, "copy-down")}:m`, "--all", "--json"]);
    expect(down.code, down.stderr).toBe(0);
    expect(JSON.parse(down.stdout).digest).toBe(multi.digest);
  });

  it("copies between local images, converting formats, as skopeo copy does", async () => {
    // Layout -> oci-archive -> layout: the same image.
    const archive = join(tmp.path, "local-copy.tar");
    const toArchive = await cli(["oci", "copy", `oci:${image.path}:${image.tag}`, `oci-archive:${archive}:v1`]);
    expect(toArchive.code, toArchive.stderr).toBe(0);
    expect(toArchive.stdout.trim()).toBe(image.digest);
    expect(JSON.parse(await skopeo(["inspect", `oci-archive:${archive}:v1`])).Digest).toBe(image.digest);
    const back = join(tmp.path, "local-copy-back");
    expect((await cli(["oci", "copy", `oci-archive:${archive}:v1`, `oci:${back}:v1`])).code).toBe(0);
    expect(verifyLayout(back)).toHaveLength(5);
    expect(JSON.parse(await skopeo(["inspect", `oci:${back}:v1`])).Digest).toBe(image.digest);
    // A multi-arch layout: one platform, or all of them.
    const multiLayout = join(tmp.path, "local-multi");
    expect((await cli(["oci", "pull", `docker://${registry.host}/multi:1`, `oci:${multiLayout}:m`, "--all"])).code).toBe(0);
    const arm = await cli(["oci", "copy", `oci:${multiLayout}:m`, `oci:${join(tmp.path, "local-arm")}:a`, "--arch", "arm64", "--json"]);
    expect(arm.code, arm.stderr).toBe(0);
    expect(JSON.parse(arm.stdout)).toMatchObject({ digest: multi.platforms.arm64, sourceDigest: multi.digest });
    const all = await cli(["oci", "copy", `oci:${multiLayout}:m`, `oci-archive:${join(tmp.path, "local-all.tar")}`, "--all"]);
    expect(all.stdout.trim()).toBe(multi.digest);
    expect(JSON.parse(await skopeo(["inspect", "--raw", `oci-archive:${join(tmp.path, "local-all.tar")}`])).manifests).toHaveLength(2);
    // To a docker-archive: gzip layers expanded (checked against the config's diff_ids), `docker load` form.
    const docker = join(tmp.path, "local.docker.tar");
    const d = await cli(["oci", "copy", `oci:${image.path}:${image.tag}`, `docker-archive:${docker}:demo:1`]);
    expect(d.code, d.stderr).toBe(0);
    const dockerManifest = JSON.parse(execFileSync("tar", ["-xOf", docker, "manifest.json"]).toString());
    expect(dockerManifest[0].RepoTags).toEqual(["demo:1"]);
    const config = JSON.parse(await skopeo(["inspect", "--config", `oci:${image.path}:${image.tag}`]));
    expect(dockerManifest[0].Layers).toEqual(config.rootfs.diff_ids.map((id: string) => `${id.slice(7)}.tar`));
    expect(JSON.parse(await skopeo(["inspect", `docker-archive:${docker}`])).Layers).toEqual(config.rootfs.diff_ids);
    // What cannot be: a platform the image lacks (exit 3), --all into a docker-archive (exit 2); nothing written.
    const none = await cli(["oci", "copy", `oci:${multiLayout}:m`, `oci:${join(tmp.path, "local-none")}`, "--arch", "s390x"]);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/no image for linux\/s390x \(the index offers linux\/amd64, linux\/arm64/);
    const allDocker = await cli(["oci", "copy", `oci:${multiLayout}:m`, `docker-archive:${join(tmp.path, "local-all.docker.tar")}`, "--all"]);
    expect(allDocker.code).toBe(2);
    expect(existsSync(join(tmp.path, "local-none")) || existsSync(join(tmp.path, "local-all.docker.tar"))).toBe(false);
    expect(readdirSync(tmp.path).filter((n) => n.startsWith(".local"))).toEqual([]);
  });
});

describe("--arch", () => {
  it("inspect shows the platform asked for, or fails as pull does: exit 3 naming what is there", async () => {
    // An index holding only linux/amd64.
    const one = makeMultiArchImage(join(tmp.path, "one-platform"), ["amd64"]);
    expect((await cli(["oci", "push", `oci:${one.path}:multi`, `docker://${registry.host}/os:latest`])).code).toBe(0);
    const os = `docker://${registry.host}/os:latest`;
    const amd = JSON.parse((await cli(["oci", "inspect", os, "--arch", "amd64", "--json"])).stdout);
    expect(amd).toMatchObject({ manifestDigest: one.platforms.amd64, architecture: "amd64" });
    const offersAmd64 = ["apt-ostree: no image for linux/arm64 (the index offers linux/amd64)"];
    for (const extra of [[], ["--config"], ["--json"]]) {
      const arm = await cli(["oci", "inspect", os, "--arch", "arm64", ...extra]);
      expect(arm.code).toBe(3);
      expect(arm.stdout).toBe("");
      expect(arm.stderr.trim().split("\n")).toEqual(offersAmd64);
    }
    // Two platforms, neither the one asked for; the same for a local layout.
    const both = "the index offers linux/amd64, linux/arm64";
    for (const source of [`docker://${registry.host}/multi:1`, `oci:${multi.path}:multi`]) {
      const s390x = await cli(["oci", "inspect", source, "--arch", "s390x"]);
      expect(s390x.code).toBe(3);
      expect(s390x.stderr.trim().split("\n")).toEqual([`apt-ostree: no image for linux/s390x (${both})`]);
    }
    // --raw is the bytes the reference names, whatever the platform.
    expect((await cli(["oci", "inspect", `docker://${registry.host}/multi:1`, "--arch", "s390x", "--raw"])).code).toBe(0);
    // A single image (no index) of another platform: exit 3 too, for inspect and pull.
    const single = `docker://${registry.host}/demo:latest`;
    expect((await cli(["oci", "inspect", single, "--arch", "amd64", "--config"])).code).toBe(0);
    const notArm = ["apt-ostree: no image for linux/arm64 (the image is linux/amd64 only)"];
    const inspectArm = await cli(["oci", "inspect", single, "--arch", "arm64", "--config"]);
    expect(inspectArm.code).toBe(3);
    expect(inspectArm.stderr.trim().split("\n")).toEqual(notArm);
    const pullArm = await cli(["oci", "pull", single, join(tmp.path, "demo-arm"), "--arch", "arm64"]);
    expect(pullArm.code).toBe(3);
    expect(pullArm.stderr.trim().split("\n")).toEqual(notArm);
    expect(existsSync(join(tmp.path, "demo-arm"))).toBe(false);
    // Without --arch a single image is taken whatever its platform (a foreign one is fine to pull).
    expect((await cli(["oci", "pull", `docker://${registry.host}/multi:1`, join(tmp.path, "arm-only"), "--arch", "arm64"])).code).toBe(0);
    expect((await cli(["oci", "push", `oci:${join(tmp.path, "arm-only")}`, `docker://${registry.host}/arm-only:1`])).code).toBe(0);
    expect((await cli(["oci", "pull", `docker://${registry.host}/arm-only:1`, join(tmp.path, "arm-only-again")])).code).toBe(0);
  });

  it("inspect shows a single image's variant (linux/arm/v7, linux/arm64/v8), locally and in a registry", async () => {
    const rootfs = join(tmp.path, "variant-rootfs");
    mkdirSync(join(rootfs, "etc"), { recursive: true });
    writeFileSync(join(rootfs, "etc/hostname"), "variant\n");
    for (const [arch, oci, variant] of [["armhf", "arm", "v7"], ["arm64", "arm64", "v8"]]) {
      const layout = join(tmp.path, `variant-${arch}`);
      const built = await cli(["oci", "build", "--rootfs", rootfs, "--arch", arch, "--output", `oci:${layout}:1`]);
      expect(built.code, built.stderr).toBe(0);
      expect((await cli(["oci", "push", `oci:${layout}:1`, `docker://${registry.host}/variant:${arch}`])).code).toBe(0);
      for (const name of [`oci:${layout}:1`, `docker://${registry.host}/variant:${arch}`]) {
        const text = await cli(["oci", "inspect", name]);
        expect(text.code, text.stderr).toBe(0);
        expect(text.stdout).toMatch(new RegExp(`^Platform: +linux/${oci}/${variant}$`, "m"));
        const json = JSON.parse((await cli(["oci", "inspect", name, "--json"])).stdout);
        expect(json).toMatchObject({ os: "linux", architecture: oci, variant });
      }
    }
  });

  it("an architecture apt-ostree does not know is a usage error, as for oci build", async () => {
    const out = join(tmp.path, "bogus");
    for (const args of [
      ["oci", "inspect", `docker://${registry.host}/multi:1`, "--arch", "bogus"],
      ["oci", "pull", `docker://${registry.host}/multi:1`, out, "--arch", "bogus"],
      ["oci", "copy", `docker://${registry.host}/multi:1`, `docker://${registry.host}/bogus:1`, "--arch", "bogus"],
      ["oci", "copy", `oci:${multi.path}:multi`, `oci:${out}`, "--arch", "bogus"],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^apt-ostree: unknown --arch 'bogus': expected a Debian architecture \(amd64, arm64, /)]);
    }
    // uname and OCI names of known architectures are taken too.
    expect((await cli(["oci", "inspect", `docker://${registry.host}/multi:1`, "--arch", "aarch64", "--json"])).code).toBe(0);
    const all = await cli(["oci", "pull", `docker://${registry.host}/multi:1`, out, "--arch", "arm64", "--all"]);
    expect(all.code).toBe(2);
    expect(existsSync(out)).toBe(false);
    expect((await cli(["oci", "tags", `${registry.host}/bogus`])).code).toBe(3); // nothing was pushed
  });

  it("copy --arch to a registry copies that platform's image only", async () => {
    const across = await cli(["oci", "copy", `docker://${registry.host}/multi:1`, `docker://${other.host}/multi:arm`, "--arch", "arm64", "--json"]);
    expect(across.code, across.stderr).toBe(0);
    expect(JSON.parse(across.stdout).digest).toBe(multi.platforms.arm64);
    const raw = JSON.parse(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${other.host}/multi:arm`]));
    expect(raw.manifests).toBeUndefined();
    expect(sha256Hex(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${other.host}/multi:arm`]))).toBe(multi.platforms.arm64.slice(7));
    // From a local layout (a push), and within one registry (mounts).
    const up = await cli(["oci", "copy", `oci:${multi.path}:multi`, `docker://${other.host}/multi:amd`, "--arch", "amd64"]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout.trim()).toBe(multi.platforms.amd64);
    expect(JSON.parse(await skopeo(["inspect", "--tls-verify=false", `docker://${other.host}/multi:amd`])).Digest).toBe(multi.platforms.amd64);
    const same = await cli(["oci", "copy", `docker://${registry.host}/multi:1`, `docker://${registry.host}/multi-arm:1`, "--arch", "arm64"]);
    expect(same.stdout.trim()).toBe(multi.platforms.arm64);
    // A platform that is not there: exit 3, nothing pushed.
    const none = await cli(["oci", "copy", `docker://${registry.host}/multi:1`, `docker://${other.host}/multi:s390x`, "--arch", "s390x"]);
    expect(none.code).toBe(3);
    expect(none.stderr.trim().split("\n")).toEqual(["apt-ostree: no image for linux/s390x (the index offers linux/amd64, linux/arm64)"]);
    const noneUp = await cli(["oci", "copy", `oci:${image.path}:${image.tag}`, `docker://${other.host}/demo:arm`, "--arch", "arm64"]);
    expect(noneUp.code).toBe(3);
    expect(JSON.parse((await cli(["oci", "tags", `${other.host}/multi`, "--json"])).stdout).tags.sort()).toEqual(["amd", "arm", "copy"]);
  });
});

describe("errors a user can act on", () => {
  it("unknown repository or tag: exit 3", async () => {
    const r = await cli(["oci", "inspect", `docker://${registry.host}/nothere:latest`]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    const t = await cli(["oci", "tags", `${registry.host}/nothere`]);
    expect(t.code).toBe(3);
    expect(t.stderr).toMatch(/unknown repository/);
    // The message names the tag (or digest) that is not there, not only the repository.
    const tag = await cli(["oci", "pull", `docker://${registry.host}/demo:nope`, join(tmp.path, "nope")]);
    expect(tag.code).toBe(3);
    expect(tag.stderr.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^apt-ostree: image not found: ${registry.host}/demo:nope\\b`))]);
    const digest = `sha256:${"0".repeat(64)}`;
    const byDigest = await cli(["oci", "inspect", `docker://${registry.host}/demo@${digest}`]);
    expect(byDigest.code).toBe(3);
    expect(byDigest.stderr).toContain(`image not found: ${registry.host}/demo@${digest}`);
  });
  it("a registry without a repository: exit 2, saying a repository is needed", async () => {
    const t = await cli(["oci", "tags", registry.host]);
    expect(t.code).toBe(2);
    expect(t.stderr.trim().split("\n")).toEqual([`apt-ostree: oci tags needs a repository: HOST/NAME, not just the registry ${registry.host}`]);
    const i = await cli(["oci", "inspect", `docker://${registry.host}`]);
    expect(i.code).toBe(2);
    expect(i.stderr).toMatch(/needs a repository: HOST\/NAME\[:TAG\]/);
  });
  it("invalid name: exit 2", async () => {
    const r = await cli(["oci", "push", image.path, `docker://${registry.host}/Bad:x`]);
    expect(r.code).toBe(2);
  });
  it("registry unreachable: exit 5, one line, no retry chatter", async () => {
    // Refused (retried a few times, silently) and a name that does not resolve (not retried).
    const refused = ["apt-ostree: cannot connect to 127.0.0.1:9: connection refused"];
    const inspect = await cli(["oci", "inspect", "docker://127.0.0.1:9/demo:latest"]);
    expect(inspect.code).toBe(5);
    expect(inspect.stderr.trim().split("\n")).toEqual(refused);
    const push = await cli(["oci", "push", image.path, "docker://127.0.0.1:9/demo:latest"]);
    expect(push.code).toBe(5);
    expect(push.stderr.trim().split("\n")).toEqual(refused);
    const started = Date.now();
    const pull = await cli(["oci", "pull", "docker://nosuch.invalid/demo:latest", join(tmp.path, "unresolved")]);
    expect(pull.code).toBe(5);
    expect(pull.stderr.trim().split("\n")).toEqual(["apt-ostree: cannot connect to nosuch.invalid: name does not resolve"]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(existsSync(join(tmp.path, "unresolved"))).toBe(false);
  });
  it("push: PATH:TAG picks an image of a layout with several, as the hint says; a third argument only with a bare registry", async () => {
    const several = await cli(["oci", "push", multi.path, registry.host, "picked:1"]);
    expect(several.code).toBe(2);
    expect(several.stderr).toMatch(/holds 3 images .*; name one: oci:.*:TAG\n$/);
    const picked = await cli(["oci", "push", `${multi.path}:img-arm64`, registry.host, "picked:1"]);
    expect([picked.code, picked.stderr]).toEqual([0, ""]);
    expect(picked.stdout.trim()).toBe(multi.platforms.arm64);
    const oneArg = await cli(["oci", "push", `${multi.path}:multi`, `docker://${registry.host}/picked:2`]);
    expect([oneArg.code, oneArg.stderr]).toEqual([0, ""]);
    expect(oneArg.stdout.trim()).toBe(multi.digest);
    const noTag = await cli(["oci", "push", `${multi.path}:nope`, registry.host, "picked:3"]);
    expect(noTag.code).toBe(3);
    expect(noTag.stderr.trim().split("\n")).toEqual([`apt-ostree: no image tagged 'nope' in ${multi.path}`]);
    for (const dest of [`docker://${registry.host}/x:1`, `${registry.host}/x:1`]) {
      const extra = await cli(["oci", "push", image.path, dest, "extra:1"]);
      expect(extra.code, dest).toBe(2);
      expect(extra.stderr.trim().split("\n")).toEqual([`apt-ostree: a third argument (NAME:TAG) goes only with a bare registry (oci push SRC HOST[:PORT] NAME:TAG); ${dest} names the repository already: drop 'extra:1'`]);
    }
    const docker = await cli(["oci", "push", image.path, `docker://${registry.host}`, "extra:1"]);
    expect(docker.code).toBe(2);
    expect(docker.stderr.trim().split("\n")).toEqual([`apt-ostree: a third argument (NAME:TAG) goes only with a bare registry (oci push SRC HOST[:PORT] NAME:TAG); a docker:// destination names the repository itself: docker://${registry.host}/extra:1`]);
  });
  it("pull of a local image: exit 2, pointing at copy (it said 'library/oci:img' must be lowercase)", async () => {
    const r = await cli(["oci", "pull", `oci:${multi.path}:m`, join(tmp.path, "pulled-local")]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual([`apt-ostree: oci pull takes a registry's image; oci:${multi.path}:m is a local one (oci copy copies between local images)`]);
    expect(existsSync(join(tmp.path, "pulled-local"))).toBe(false);
  });
  it("tags of a local image: exit 2, saying tags lists a registry's repository", async () => {
    const r = await cli(["oci", "tags", `oci:${multi.path}`]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual([`apt-ostree: oci tags lists the tags of a repository in a registry (HOST/NAME), not of a local image (oci:${multi.path})`]);
  });
  it("missing source image: exit 3", async () => {
    const r = await cli(["oci", "push", join(tmp.path, "nothing"), `docker://${registry.host}/x:1`]);
    expect(r.code).toBe(3);
  });
  it("a blob of the local image whose bytes no longer match its digest: exit 1, naming the image as damaged, not the registry", async () => {
    const damaged = makeTestImage(join(tmp.path, "damaged"), { layerSizes: [200_000] });
    const manifest = JSON.parse(readFileSync(join(damaged.path, "blobs/sha256", damaged.digest.slice(7)), "utf8"));
    const layer = join(damaged.path, "blobs/sha256", manifest.layers[0].digest.slice(7));
    const bytes = readFileSync(layer);
    bytes[100] ^= 0xff; // same size, other content: only the registry's hash can tell
    writeFileSync(layer, bytes);
    const r = await cli(["oci", "push", `oci:${damaged.path}:${damaged.tag}`, `docker://${registry.host}/damaged:1`]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([
      `apt-ostree: blob ${manifest.layers[0].digest} of ${damaged.path} is damaged: its content hashes to sha256:${sha256Hex(bytes)}`,
    ]);
  });
});

describe("TLS", () => {
  let secure: TestRegistry;
  beforeAll(async () => {
    secure = await startRegistry({ tls: true });
  });
  afterAll(async () => {
    await secure?.stop();
  });
  it("verifies against --cert-dir; an unknown CA is a one-line TLS failure", async () => {
    const ok = await cli(["oci", "push", image.path, `docker://${secure.host}/tls:1`, "--cert-dir", secure.certDir!]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe(image.digest);
    const bad = await cli(["oci", "inspect", `docker://${secure.host}/tls:1`, "--tls-verify=true"]);
    expect(bad.code).toBe(5);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/TLS failure/);
  });
  it("a loopback registry speaking https is found without flags, as Docker does; --tls-verify=false too", async () => {
    const r = await cli(["oci", "inspect", `docker://${secure.host}/tls:1`, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).digest).toBe(image.digest);
    const insecure = await cli(["oci", "pull", `docker://${secure.host}/tls:1`, join(tmp.path, "tls-pull"), "--tls-verify=false"]);
    expect(insecure.code, insecure.stderr).toBe(0);
  });
  it("pushes and copies to a loopback registry speaking https, without flags and with --tls-verify=false (a HEAD first)", async () => {
    // The first request of a push is a HEAD: a 400 without a body must still tell http from https.
    for (const [tag, extra] of [["plain", []], ["insecure", ["--tls-verify=false"]]] as [string, string[]][]) {
      const push = await cli(["oci", "push", image.path, `docker://${secure.host}/tls-push:${tag}`, ...extra]);
      expect([push.code, push.stderr], tag).toEqual([0, ""]);
      expect(push.stdout.trim()).toBe(image.digest);
      const copyFlags = extra.length ? ["--dest-tls-verify=false"] : [];
      const copy = await cli(["oci", "copy", `docker://${registry.host}/demo:latest`, `docker://${secure.host}/tls-copy:${tag}`, ...copyFlags]);
      expect([copy.code, copy.stderr], tag).toEqual([0, ""]);
      const local = await cli(["oci", "copy", `oci:${image.path}:${image.tag}`, `docker://${secure.host}/tls-copy-local:${tag}`, ...copyFlags]);
      expect([local.code, local.stderr], tag).toEqual([0, ""]);
    }
    expect(JSON.parse((await cli(["oci", "tags", `${secure.host}/tls-copy`, "--json"])).stdout).tags.sort()).toEqual(["insecure", "plain"]);
  });
  it("copy with one --cert-dir between a TLS registry and a plain-http loopback one: http stays allowed on loopback", async () => {
    const down = await cli(["oci", "copy", `docker://${secure.host}/tls:1`, `docker://${other.host}/from-tls:1`, "--cert-dir", secure.certDir!]);
    expect([down.code, down.stderr]).toEqual([0, ""]);
    expect(down.stdout.trim()).toBe(image.digest);
    const up = await cli(["oci", "copy", `docker://${other.host}/from-tls:1`, `docker://${secure.host}/from-plain:1`, "--cert-dir", secure.certDir!]);
    expect([up.code, up.stderr]).toEqual([0, ""]);
    // --cert-dir still means verified https to a TLS registry: a CA that did not sign it is refused.
    const wrongCa = join(tmp.path, "wrong-ca");
    mkdirSync(wrongCa, { recursive: true });
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(tmp.path, "wrong-ca.key"), "-out", join(wrongCa, "ca.crt"), "-days", "2", "-subj", "/CN=other CA"], { stdio: "ignore" });
    const refused = await cli(["oci", "inspect", `docker://${secure.host}/tls:1`, "--cert-dir", wrongCa]);
    expect(refused.code).toBe(5);
    expect(refused.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^apt-ostree: TLS failure talking to 127\.0\.0\.1:\d+: /)]);
    // The hint names the directory the CAs came from, rather than suggesting --cert-dir again.
    expect(refused.stderr).toContain(wrongCa);
  });
  it("verifies against /etc/containers/certs.d/HOST:PORT without --cert-dir, as containers tools do", async () => {
    const hostDir = process.getuid?.() === 0 ? join("/etc/containers/certs.d", secure.host) : join(process.env.HOME ?? "/nonexistent", ".config/containers/certs.d", secure.host);
    mkdirSync(hostDir, { recursive: true });
    try {
      writeFileSync(join(hostDir, "ca.crt"), readFileSync(join(secure.certDir!, "ca.crt")));
      const r = await cli(["oci", "inspect", `docker://${secure.host}/tls:1`, "--tls-verify=true", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).digest).toBe(image.digest);
      // A bad file there is named, as in a --cert-dir.
      writeFileSync(join(hostDir, "junk.crt"), "not a certificate\n");
      const bad = await cli(["oci", "inspect", `docker://${secure.host}/tls:1`, "--tls-verify=true"]);
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim().split("\n")).toEqual([`apt-ostree: ${hostDir}: ${join(hostDir, "junk.crt")} holds no PEM certificate`]);
    } finally {
      rmSync(hostDir, { recursive: true, force: true });
    }
  });
  it("a plain http registry asked for over https: said so, with the flag that allows http", async () => {
    const r = await cli(["oci", "tags", `${registry.host}/demo`, "--tls-verify=true"]);
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split("\n")).toEqual([`apt-ostree: ${registry.host} did not answer in TLS: is it a plain http registry? (--tls-verify=false allows http)`]);
  });
  it("a --cert-dir that is not there is exit 3, one that holds bad files exit 2, naming them; no --cert-dir hint", async () => {
    const missing = join(tmp.path, "no-such-cert-dir");
    for (const target of [`${secure.host}/tls`, `${registry.host}/demo`]) {
      const r = await cli(["oci", "tags", target, "--cert-dir", missing]);
      expect(r.code, target).toBe(3);
      expect(r.stderr.trim().split("\n")).toEqual([`apt-ostree: --cert-dir ${missing} does not exist`]);
    }
    const noKey = join(tmp.path, "cert-no-key");
    mkdirSync(noKey, { recursive: true });
    writeFileSync(join(noKey, "client.cert"), readFileSync(join(secure.certDir!, "ca.crt")));
    const junk = join(tmp.path, "cert-junk");
    mkdirSync(junk, { recursive: true });
    writeFileSync(join(junk, "x.crt"), "not a certificate\n");
    for (const [dir, file] of [[noKey, "client.cert"], [junk, "x.crt"]]) {
      for (const target of [`${secure.host}/tls`, `${registry.host}/demo`]) {
        const r = await cli(["oci", "tags", target, "--cert-dir", dir]);
        expect(r.code, `${dir} ${target}`).toBe(2);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
        expect(r.stderr).toContain(join(dir, file));
        expect(r.stderr).not.toMatch(/use --cert-dir|unreachable|FailedToOpenSocket/);
      }
    }
  });
});

describe("docker-archive", () => {
  it("pulls into a docker-archive (gzip layers expanded, checked against diff_ids) that skopeo reads", async () => {
    const out = join(tmp.path, "pulled-docker.tar");
    const r = await cli(["oci", "pull", `docker://${registry.host}/demo:latest`, `docker-archive:${out}`, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    // The digest of what was written (inspect's, layers uncompressed); the registry's is the source's.
    const pulled = JSON.parse(r.stdout);
    expect(pulled.sourceDigest).toBe(image.digest);
    expect(pulled.digest).not.toBe(image.digest);
    expect(JSON.parse((await cli(["oci", "inspect", out, "--json"])).stdout).digest).toBe(pulled.digest);
    const info = JSON.parse(await skopeo(["inspect", "--config", `docker-archive:${out}`]));
    const ours = JSON.parse(await skopeo(["inspect", "--config", "--tls-verify=false", `docker://${registry.host}/demo:latest`]));
    expect(info.rootfs.diff_ids).toEqual(ours.rootfs.diff_ids);
    // and back: push the archive, the config is the same blob
    const again = await cli(["oci", "push", `docker-archive:${out}`, `docker://${registry.host}/roundtrip:1`, "--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).digest).toBe(pulled.digest);
    const back = JSON.parse(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/roundtrip:1`]));
    const orig = JSON.parse(await skopeo(["inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/demo:latest`]));
    expect(back.config.digest).toBe(orig.config.digest);
  });

  it("expands zstd layers (every frame) into a docker-archive too, checked against diff_ids", async () => {
    const tree = join(tmp.path, "zstd-tree");
    mkdirSync(join(tree, "etc"), { recursive: true });
    // Several zstd frames (4 MiB of tar each at level 1), part incompressible.
    execFileSync("sh", ["-c", `head -c 6000000 /dev/urandom > '${join(tree, "noise")}'; yes apt-ostree | head -c 5000000 > '${join(tree, "etc", "text")}'`]);
    const layout = join(tmp.path, "zstd-img");
    const built = await cli(["oci", "build", "--rootfs", tree, "--output", `oci:${layout}:z`, "--compression", "zstd", "--json"]);
    expect(built.code, built.stderr).toBe(0);
    const out = join(tmp.path, "zstd-docker.tar");
    const r = await cli(["oci", "copy", `oci:${layout}:z`, `docker-archive:${out}:zstd:1`]);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(await skopeo(["inspect", "--config", `docker-archive:${out}`]));
    expect(info.rootfs.diff_ids).toEqual([JSON.parse(built.stdout).layers[0].diffId]);
    // The layer in the archive is the tar itself: its name is its digest, its digest the diff_id.
    const listing = execFileSync("tar", ["-tf", out], { encoding: "utf8" }).split("\n");
    expect(listing).toContain(`${info.rootfs.diff_ids[0].slice("sha256:".length)}.tar`);
  });
});
