// Pure format code: configs, manifests, references to local images, the archive tar, build options.
import { describe, expect, it } from "vitest";
import { mkdtempSync, openSync, closeSync, writeFileSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostDebianArch, isKnownArch, ociArchOf, platformForDebianArch, qemuArch } from "../src/arch.ts";
import { buildConfig, buildIndex, buildManifest, normalisePort, parseCreated, parseKeyValue, type ImageSettings } from "../src/oci/image.ts";
import { sha256 } from "../src/oci/digest.ts";
import { dockerRepoTag, parseLocalTarget } from "../src/oci/local.ts";
import { indexTar, readMember, writeTar } from "../src/oci/tar.ts";
import { parseBuildConfig, parseCommand } from "../src/build-config.ts";
import { sniffCompression } from "../src/oci/mediatypes.ts";

const settings: ImageSettings = {
  architecture: "arm64", variant: "v8", os: "linux", created: "2024-01-01T00:00:00Z",
  labels: { z: "1", a: "2" }, annotations: {}, env: ["A=1"], exposedPorts: ["80/tcp", "80/tcp", "53/udp"], volumes: ["/data"],
  cmd: ["/bin/sh"], user: "root", workdir: "/",
};
const layer = { descriptor: { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256("layer"), size: 5 }, diffId: sha256("tar"), createdBy: "test" };

describe("image config and manifest", () => {
  it("has real digests, diff_ids, sorted labels and deduplicated ports", () => {
    const config = buildConfig(settings, [layer]);
    expect(config.descriptor.digest).toBe(sha256(config.bytes));
    expect(config.descriptor.size).toBe(config.bytes.length);
    expect(config.value.rootfs).toEqual({ type: "layers", diff_ids: [layer.diffId] });
    expect(Object.keys(config.value.config!.Labels!)).toEqual(["a", "z"]);
    expect(config.value.config!.ExposedPorts).toEqual({ "53/udp": {}, "80/tcp": {} });
    expect(config.value.history).toHaveLength(1);
    expect(config.value.variant).toBe("v8");
    const again = buildConfig({ ...settings, labels: { a: "2", z: "1" } }, [layer]);
    expect(again.descriptor.digest).toBe(config.descriptor.digest);
    const manifest = buildManifest(config.descriptor, [layer.descriptor], { b: "1", a: "0" });
    expect(manifest.value.config.digest).toBe(config.descriptor.digest);
    expect(manifest.value.config.size).toBeGreaterThan(0);
    expect(Object.keys(manifest.value.annotations!)).toEqual(["a", "b"]);
    expect(JSON.parse(new TextDecoder().decode(manifest.bytes)).schemaVersion).toBe(2);
    const index = buildIndex([manifest.descriptor]);
    expect(index.value.manifests[0].digest).toBe(manifest.descriptor.digest);
  });

  it("parses flag values strictly", () => {
    expect(parseKeyValue("a=b=c", "label")).toEqual(["a", "b=c"]);
    expect(() => parseKeyValue("=x", "label")).toThrow(/invalid label/);
    expect(() => parseKeyValue(" =x", "label")).toThrow("invalid label ' =x': the key must not contain blanks or control characters");
    expect(() => parseKeyValue("A B=1", "env")).toThrow(/invalid env 'A B=1': the key must not/);
    expect(parseKeyValue("org.example/ü=a b", "label")).toEqual(["org.example/ü", "a b"]);
    expect(() => parseKeyValue("x", "label")).toThrow(/KEY=VALUE/);
    expect(normalisePort("80")).toBe("80/tcp");
    expect(normalisePort("53/udp")).toBe("53/udp");
    expect(() => normalisePort("70000")).toThrow();
    expect(() => normalisePort("80/foo")).toThrow();
    expect(parseCreated("@1700000000")).toBe("2023-11-14T22:13:20Z");
    expect(parseCreated("2024-02-03T04:05:06.789Z")).toBe("2024-02-03T04:05:06Z");
    expect(() => parseCreated("yesterday")).toThrow(/invalid time/);
    expect(platformForDebianArch("armhf")).toEqual({ architecture: "arm", variant: "v7" });
    expect(platformForDebianArch("ppc64el")).toEqual({ architecture: "ppc64le" });
    expect(platformForDebianArch("386")).toEqual({ architecture: "386" });
    expect(() => platformForDebianArch("foo")).toThrow(/unknown architecture 'foo'/);
    expect(isKnownArch("riscv64") && isKnownArch("mips64le") && !isKnownArch("x64") && !isKnownArch("constructor")).toBe(true);
    // One table for every naming: Node's, uname's (qemu's) and OCI's.
    expect(["x64", "arm64", "arm", "ia32", "ppc64", "loong64", "sparc"].map((n) => hostDebianArch(n))).toEqual(["amd64", "arm64", "armhf", "i386", "ppc64el", "loong64", "sparc"]);
    expect(["x86_64", "aarch64", "armel", "loongarch64", "mips64el", "ppc64le", "weird", "armv7l", "i686"].map(ociArchOf)).toEqual([
      { architecture: "amd64" },
      { architecture: "arm64", variant: "v8" },
      { architecture: "arm", variant: "v5" },
      { architecture: "loong64" },
      { architecture: "mips64le" },
      { architecture: "ppc64le" },
      { architecture: "weird" },
      { architecture: "arm", variant: "v7" },
      { architecture: "386" },
    ]);
    expect([qemuArch("loong64"), qemuArch("amd64"), qemuArch("x86_64"), qemuArch("toString")]).toEqual(["loongarch64", "x86_64", undefined, undefined]);
    expect(parseCommand('["/bin/sh", "-c", "a b"]', "--cmd")).toEqual(["/bin/sh", "-c", "a b"]);
    expect(parseCommand("/usr/bin/env  bash", "--cmd")).toEqual(["/usr/bin/env", "bash"]);
    expect(() => parseCommand("[1,2]", "--cmd")).toThrow(/array of strings/);
    expect(sniffCompression(new Uint8Array([0x1f, 0x8b, 8, 0]))).toBe("gzip");
    expect(sniffCompression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]))).toBe("zstd");
    expect(sniffCompression(new Uint8Array([0x61, 0x62, 0, 0]))).toBe("none");
  });
});

describe("local image references", () => {
  it("parses the skopeo-style transports", () => {
    // oci: adds to an existing layout (skopeo's semantics); a plain path is one image.
    expect(parseLocalTarget("oci:/tmp/x:v1")).toEqual({ format: "oci", path: "/tmp/x", tag: "v1", addToLayout: true });
    expect(parseLocalTarget("oci:/tmp/x")).toEqual({ format: "oci", path: "/tmp/x", addToLayout: true });
    // Not stdout: a file named "-" was written.
    expect(() => parseLocalTarget("oci-archive:-")).toThrow("'oci-archive:-': images are not read from stdin or written to stdout here; name a file (./- for one called -)");
    expect(() => parseLocalTarget("-")).toThrow(/not read from stdin/);
    expect(parseLocalTarget("./-")).toEqual({ format: "oci", path: "./-" });
    expect(parseLocalTarget("oci:relative/dir:tag")).toEqual({ format: "oci", path: "relative/dir", tag: "tag", addToLayout: true });
    expect(parseLocalTarget("/tmp/x", "oci")).toEqual({ format: "oci", path: "/tmp/x" });
    expect(parseLocalTarget("oci-archive:/a/b.tar:t")).toEqual({ format: "oci-archive", path: "/a/b.tar", tag: "t" });
    expect(parseLocalTarget("docker-archive:/a/b.tar:name:tag")).toEqual({ format: "docker-archive", path: "/a/b.tar", tag: "name:tag" });
    expect(parseLocalTarget("docker-archive:/a/b.tar")).toEqual({ format: "docker-archive", path: "/a/b.tar" });
    expect(parseLocalTarget("my-image.tar", "docker-archive")).toEqual({ format: "docker-archive", path: "my-image.tar" });
    expect(dockerRepoTag("demo:1.0")).toBe("demo:1.0");
    expect(dockerRepoTag("registry:5000/demo")).toBe("registry:5000/demo:latest");
    expect(dockerRepoTag("v1")).toBe("apt-ostree:v1");
  });
});

describe("archive tar", () => {
  it("writes a tar GNU tar reads, and indexes it back by byte range", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tar-test-"));
    const src = join(dir, "blob");
    writeFileSync(src, Buffer.alloc(1500, 7));
    const longName = "blobs/sha256/" + "a".repeat(120);
    const out = join(dir, "out.tar");
    const fd = openSync(out, "w");
    await writeTar(fd, [{ name: "blobs", type: "dir" }, { name: "index.json", type: "file", bytes: new TextEncoder().encode("{}") }, { name: longName, type: "file", path: src, size: 1500 }], 0);
    closeSync(fd);
    const listing = execFileSync("tar", ["-tvf", out]).toString();
    expect(listing).toMatch(/index\.json/);
    expect(listing).toContain(longName);
    const members = indexTar(out);
    expect(members.get(longName)!.size).toBe(1500);
    expect(Buffer.from(readMember(out, members.get(longName)!)).equals(readFileSync(src))).toBe(true);
    expect(new TextDecoder().decode(readMember(out, members.get("index.json")!))).toBe("{}");
  });
});

describe("build config file", () => {
  it("accepts a full config and names the bad field", () => {
    const ok = parseBuildConfig({ rootfs: "/r", output: "oci:/o", labels: { a: "b", n: "1" }, env: { A: "1" }, expose: [80, "53/udp"], bootc: true, cmd: "/bin/sh" }, "c.json");
    expect(ok.labels).toEqual({ a: "b", n: "1" });
    expect(ok.cmd).toEqual(["/bin/sh"]);
    expect(() => parseBuildConfig({ labels: { a: {} } }, "c.json")).toThrow(/c\.json: labels\.a:/);
    expect(() => parseBuildConfig({ compression: "lz4" }, "c.json")).toThrow(/compression/);
    expect(() => parseBuildConfig({ colour: "red" }, "c.json")).toThrow("c.json: unknown field 'colour'");
    expect(() => parseBuildConfig({ workdir: "rel" }, "c.json")).toThrow(/workdir: must be an absolute path/);
    // Keys as --label and --env take them.
    expect(() => parseBuildConfig({ env: { "A B": "1" } }, "c.json")).toThrow(/c\.json: env.*a key must be non-empty, without blanks or control characters/);
    expect(() => parseBuildConfig({ labels: { " ": "x" } }, "c.json")).toThrow(/a key must be non-empty, without blanks/);
  });

  it("refuses numbers, booleans, maps and nulls among labels, annotations and env, naming the key", () => {
    // As YAML reads `labels: {version: 2.10, oct: 0755, big: 12345678901234567890}`: the text is gone.
    const fail = (value: unknown) => {
      try {
        parseBuildConfig(value, "c.yaml");
      } catch (error) {
        return (error as Error).message;
      }
      return "accepted";
    };
    const number = "is read as a number (YAML reads 2.10 as 2.1, 0755 as 755); quote it as written";
    expect(fail({ labels: { version: 2.1 } })).toBe(`c.yaml: labels.version: 2.1 ${number}`);
    expect(fail({ labels: { ok: "x", oct: 755 } })).toBe(`c.yaml: labels.oct: 755 ${number}`);
    expect(fail({ annotations: { big: 12345678901234567890 } })).toBe(`c.yaml: annotations.big: 12345678901234567000 ${number}`);
    expect(fail({ env: { V: 1.1 } })).toBe(`c.yaml: env.V: 1.1 ${number}`);
    expect(fail({ env: ["A=1", 2] })).toBe(`c.yaml: env.1: 2 ${number}`);
    expect(fail({ labels: { t: true } })).toBe('c.yaml: labels.t: true is read as a boolean; quote it: "true"');
    expect(fail({ labels: { a: { x: 1 } } })).toBe("c.yaml: labels.a: a string is expected, not a map");
    expect(fail({ env: { A: null } })).toBe("c.yaml: env.A: a string is expected, not null (no value)");
    expect(fail({ annotations: { l: ["x"] } })).toBe("c.yaml: annotations.l: a string is expected, not a list");
    expect(parseBuildConfig({ labels: { version: "2.10" }, env: { V: "1.10" } }, "c.yaml")).toEqual({ labels: { version: "2.10" }, env: { V: "1.10" } });
  });
});
