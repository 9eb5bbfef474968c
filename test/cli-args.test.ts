// Flag handling of `oci build`: defaults < config file < flags, and conflicts are usage errors.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cac } from "cac";
import { givenOptionValues, joinBooleanValues, joinNegativeValues, systemErrorLine } from "../src/cli/main.ts";
import { parseBuildConfig, parseCommand } from "../src/build-config.ts";
import { parseCreated } from "../src/oci/image.ts";
import { dockerRepoTag } from "../src/oci/local.ts";
import { resolveBuildOptions } from "../src/cli/oci-build.ts";
import { ExitCode, UserError } from "../src/errors.ts";

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).exitCode).toBe(ExitCode.Usage);
    return (error as Error).message;
  }
  throw new Error("expected a usage error");
}

describe("oci build options", () => {
  it("maps the original design's form", () => {
    const o = resolveBuildOptions({ source: "test/oci/demo", output: "my-image.tar", format: "docker", repo: "/r" }, {});
    expect(o.source).toEqual({ kind: "ostree", repo: "/r", ref: "test/oci/demo" });
    expect(o.target).toEqual({ format: "docker-archive", path: "my-image.tar", tag: undefined });
    expect(o.compression).toBe("none");
  });

  it("defaults the tag and compression, and reads repeatable flags", () => {
    const o = resolveBuildOptions({ rootfs: "/t", output: "/o", label: ["a=1", "b=2=3"], env: "X=1", expose: ["80", "53/udp"], volume: "/v", cmd: "sleep 1" }, { SOURCE_DATE_EPOCH: "5" });
    expect(o.target.tag).toBe("latest");
    expect(o.compression).toBe("gzip");
    expect(o.settings.labels).toEqual({ a: "1", b: "2=3" });
    expect(o.settings.env).toEqual(["X=1"]);
    expect(o.settings.exposedPorts).toEqual(["80/tcp", "53/udp"]);
    expect(o.settings.cmd).toEqual(["sleep", "1"]);
    expect(o.sourceDateEpoch).toBe(5);
  });

  it("refuses conflicts and bad values with one clear message", () => {
    expect(usage(() => resolveBuildOptions({ rootfs: "/t" }, {}))).toMatch(/--output is required/);
    expect(usage(() => resolveBuildOptions({ output: "/o" }, {}))).toMatch(/a source is required/);
    expect(usage(() => resolveBuildOptions({ source: "r", rootfs: "/t", output: "/o", repo: "/r" }, {}))).toMatch(/exclude each other/);
    expect(usage(() => resolveBuildOptions({ source: "r", output: "/o" }, {}))).toMatch(/--source needs --repo/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "oci:/o", format: "docker" }, {}))).toMatch(/contradicts/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "oci:/o:a", tag: "b" }, {}))).toMatch(/--tag b contradicts/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", format: "docker", compression: "gzip" }, {}))).toMatch(/uncompressed/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", threads: "0" }, {}))).toMatch(/--threads/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", maxLayers: "0" }, {}))).toMatch(/--max-layers must be between 1 and 100/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", maxLayers: "200" }, {}))).toMatch(/--max-layers/);
    expect(resolveBuildOptions({ rootfs: "/t", output: "/o", maxLayers: "8" }, {}).maxLayers).toBe(8);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", threads: "300" }, {}))).toBe("--threads must be between 1 and 256");
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", arch: "foo" }, {}))).toMatch(/^unknown --arch 'foo': expected a Debian architecture/);
    expect(resolveBuildOptions({ rootfs: "/t", output: "/o", arch: "ppc64le" }, {}).arch).toBe("ppc64le");
    expect(resolveBuildOptions({ rootfs: "/t", output: "/o", arch: "armhf" }, {}).arch).toBe("armhf");
    // zstd's fast levels are negative: "--level -3" is a value, not a flag.
    expect(joinNegativeValues(["build", "--level", "-3", "--threads", "2", "--", "--x", "-1"])).toEqual(["build", "--level=-3", "--threads", "2", "--", "--x", "-1"]);
    // A bare --tls-verify (as skopeo's users write it) does not swallow the image that follows.
    expect(joinBooleanValues(["inspect", "--tls-verify", "h:5000/x", "--src-tls-verify", "false", "--dest-tls-verify"])).toEqual(["inspect", "--tls-verify=true", "h:5000/x", "--src-tls-verify", "false", "--dest-tls-verify=true"]);
    expect(resolveBuildOptions({ rootfs: "/t", output: "/o", compression: "zstd", level: -3 }, {}).level).toBe(-3);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", compression: "zstd", level: "-8" }, {}))).toBe("--level -8 is out of range for zstd (1-19, or -7 to -1 for the fast levels)");
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", level: "10" }, {}))).toBe("--level 10 is out of range for gzip (1-9)");
    expect(resolveBuildOptions({ rootfs: "/t", output: "/o", compression: "zstd", zstdFrames: "one" }, {}).zstdFrames).toBe("one");
    expect(resolveBuildOptions({ rootfs: "/t", output: "/o", compression: "zstd" }, {}).zstdFrames).toBeUndefined();
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", compression: "zstd", zstdFrames: "two" }, {}))).toBe("invalid --zstd-frames 'two': expected many or one");
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", zstdFrames: "one" }, {}))).toBe("--zstd-frames applies to zstd layers, not gzip");
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", compression: "none", level: "3" }, {}))).toMatch(/out of range for none \(only 0\)/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", level: "x" }, {}))).toMatch(/--level/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", volume: "rel" }, {}))).toMatch(/absolute/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o" }, { SOURCE_DATE_EPOCH: "soon" }))).toMatch(/SOURCE_DATE_EPOCH/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", format: "tgz" }, {}))).toMatch(/unknown format/);
  });
});

describe("errors of the OS in words", () => {
  it("names what failed and where, in one line", () => {
    const err = (code: string, syscall?: string, path?: string) => Object.assign(new Error(`${code}: x`), { code, syscall, path });
    expect(systemErrorLine(err("ENOSPC", "write", "/o/blob"))).toBe("disk full: cannot write /o/blob");
    expect(systemErrorLine(err("EROFS", "mkdir", "/ro/x"))).toBe("read-only file system: cannot mkdir /ro/x");
    expect(systemErrorLine(err("ENOSPC"))).toBe("disk full (ENOSPC: x)");
    // Inside a temporary sibling (.NAME.WHAT-PID-TIME): the output the user named.
    expect(systemErrorLine(err("ENOSPC", "write", "/o/.img.layout-4584-mx1022vp/blobs/sha256/.partial-4584-1"))).toBe("disk full: cannot write /o/img");
    expect(systemErrorLine(err("ENOSPC", "write", "/o/.x.tar.archive-12-abc"))).toBe("disk full: cannot write /o/x.tar");
    expect(systemErrorLine(err("EACCES", "open", "/o/.hidden/file"))).toBe("permission denied: cannot open /o/.hidden/file");
    expect(systemErrorLine(err("ECONNRESET", "read"))).toBeUndefined();
    expect(systemErrorLine("ENOSPC")).toBeUndefined();
  });
});

describe("option values as given", () => {
  const command = cac("t")
    .command("build")
    .option("--tag <tag>", "tag")
    .option("--user <user>", "user")
    .option("--max-layers <n>", "layers")
    .option("--label <key=value>", "label (repeatable)")
    .option("--force", "force")
    .option("-u, --username <name>", "name");

  it("keeps numbers as typed, every name of an option, and lists for repeatable ones", () => {
    const v = givenOptionValues(["build", "--tag", "2.10", "--user=007", "--max-layers", "0x10", "--label", "a=1", "--label=b", "-u", "1e3", "--force", "x"], command.options);
    expect(v).toEqual({ tag: "2.10", user: "007", maxLayers: "0x10", label: ["a=1", "b"], u: "1e3", username: "1e3" });
    // As cac's parser: an empty value is a value; an option before another option has none.
    expect(givenOptionValues(["--tag", "", "--force"], command.options)).toEqual({ tag: "" });
    expect(usage(() => givenOptionValues(["--user", "--force"], command.options))).toBe("--user needs a value");
    // After "--", nothing is an option.
    expect(givenOptionValues(["--", "--tag", "1"], command.options)).toEqual({});
  });

  it("refuses a single-value option given twice, and a repeatable one without a value", () => {
    expect(usage(() => givenOptionValues(["--tag", "a", "--tag=b"], command.options))).toBe("--tag given more than once");
    expect(usage(() => givenOptionValues(["--label", "a=1", "--label"], command.options))).toBe("--label needs a value");
    expect(usage(() => givenOptionValues(["build", "-"], command.options))).toBe("'-' is not an option (use ./- for a file of that name)");
  });

  it("reads --created strictly, UTC unless an offset is given", () => {
    expect(parseCreated("2024-01-02T03:04:05")).toBe("2024-01-02T03:04:05Z");
    expect(parseCreated("2024-01-02T03:04:05.9+01:30")).toBe("2024-01-02T01:34:05Z");
    expect(parseCreated("2024-01-02 03:04-0100")).toBe("2024-01-02T04:04:00Z");
    expect(parseCreated("2024-01-02")).toBe("2024-01-02T00:00:00Z");
    expect(parseCreated("@86400")).toBe("1970-01-02T00:00:00Z");
    expect(parseCreated("now", () => new Date(5500))).toBe("1970-01-01T00:00:05Z");
    expect(parseCreated("1969-07-20T20:17:00Z")).toBe("1969-07-20T20:17:00Z");
    for (const bad of ["2024", "12", "@-5", "@1.5", "Jan 2 2024", "2024-02-30", "2024-01-02T24:00", "2024-01-02Z", "2024-01-02T00:00+99:99", ""]) {
      expect(() => parseCreated(bad), bad).toThrow(/^invalid time/);
    }
  });

  it("reads a config file's paths relative to the file, the flags' relative to the working directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-args-"));
    try {
      const config = join(dir, "build.json");
      writeFileSync(config, JSON.stringify({ source: "os/main", repo: "repo", output: "oci:out/img:t" }));
      const o = resolveBuildOptions({ config }, {});
      expect(o.source).toEqual({ kind: "ostree", repo: join(dir, "repo"), ref: "os/main" });
      expect(o.target).toMatchObject({ format: "oci", path: join(dir, "out/img"), tag: "t" });
      writeFileSync(config, JSON.stringify({ rootfs: "../tree", output: "/abs/img.tar", format: "oci-archive" }));
      const p = resolveBuildOptions({ config }, {});
      expect(p.source).toEqual({ kind: "rootfs", dir: join(dir, "../tree") });
      expect(p.target).toMatchObject({ format: "oci-archive", path: "/abs/img.tar" });
      // What is no local output gets the error it gets as a flag.
      writeFileSync(config, JSON.stringify({ rootfs: "t", output: "docker://localhost:5000/x:1" }));
      expect(usage(() => resolveBuildOptions({ config }, {}))).toMatch(/^docker:\/\/localhost:5000\/x:1 is a registry image/);
      writeFileSync(config, JSON.stringify({ rootfs: "t", output: "oci:" }));
      expect(usage(() => resolveBuildOptions({ config }, {}))).toBe("'oci:' names no path");
      writeFileSync(config, JSON.stringify({ rootfs: "../tree", output: "/abs/img.tar", format: "oci-archive" }));
      // Flags win, and are taken as typed.
      expect(resolveBuildOptions({ config, rootfs: "tree", output: "img" }, {}).target.path).toBe("img");
      expect(resolveBuildOptions({ config, rootfs: "tree", output: "img" }, {}).source).toEqual({ kind: "rootfs", dir: "tree" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("splits a command as a shell does, in flags and config files alike", () => {
    expect(parseCommand(`/bin/sh -c "echo \\"hi\\" \\$HOME" 'a b'\\ c`, "--cmd")).toEqual(["/bin/sh", "-c", 'echo "hi" $HOME', "a b c"]);
    expect(parseCommand(`x ""`, "--cmd")).toEqual(["x", ""]);
    expect(() => parseCommand(`sh -c "echo`, "--cmd")).toThrow(`invalid --cmd 'sh -c "echo': unterminated " quote`);
    expect(parseBuildConfig({ cmd: '/bin/sh -c "echo hi"', entrypoint: ["/x y"] }, "f").cmd).toEqual(["/bin/sh", "-c", "echo hi"]);
    // Keys as the flags spell them too; one setting both ways is an error.
    expect(parseBuildConfig({ "max-layers": 3, "zstd-frames": "one", stopSignal: "SIGRTMIN+3" }, "f")).toMatchObject({ maxLayers: 3, zstdFrames: "one", stopSignal: "SIGRTMIN+3" });
    expect(() => parseBuildConfig({ "max-layers": 3, maxLayers: 4 }, "f")).toThrow("f: maxLayers: given twice (as max-layers too)");
    expect(() => parseBuildConfig({ entrypoint: "'a" }, "f")).toThrow("f: entrypoint: invalid entrypoint ''a': unterminated ' quote");
  });

  it("checks docker-archive references before any work, and lets a flag override a config's zstd settings", () => {
    expect(dockerRepoTag("demo:1.0")).toBe("demo:1.0");
    expect(dockerRepoTag("1.0")).toBe("apt-ostree:1.0");
    expect(dockerRepoTag("registry.example:5000/a/b")).toBe("registry.example:5000/a/b:latest");
    expect(dockerRepoTag("library/demo")).toBe("library/demo:latest");
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "docker-archive:/o.tar:Bad:1" }, {}))).toMatch(/^invalid docker-archive reference 'Bad:1'/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o.tar", format: "docker", tag: "bad tag" }, {}))).toMatch(/^invalid docker-archive reference 'apt-ostree:bad tag'/);
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", level: "0x1" }, {}))).toBe("--level expects a whole number, got '0x1'");
    expect(resolveBuildOptions({ rootfs: "/t", output: "/o" }, { SOURCE_DATE_EPOCH: "" }).sourceDateEpoch).toBeUndefined();
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o" }, { SOURCE_DATE_EPOCH: "99999999999999" }))).toBe("SOURCE_DATE_EPOCH 99999999999999 is after the year 9999");
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", bootc: true, label: "ostree.bootable=false" }, {}))).toBe(
      "--bootc sets the label ostree.bootable=true; the label ostree.bootable=false contradicts it",
    );
    expect(resolveBuildOptions({ rootfs: "/t", output: "/o", bootc: true, label: ["containers.bootc=1", "a=b"] }, {}).bootc).toBe(true);
    // An empty value is a variable that expanded to nothing, not a setting.
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", user: "" }, {}))).toBe("--user must not be empty");
    expect(usage(() => resolveBuildOptions({ rootfs: "/t", output: "/o", workdir: " " }, {}))).toBe("--workdir must not be empty");
  });
});

describe("config files that cannot be read", () => {
  it("are one line naming the file and why, not the runtime's text", async () => {
    const { readConfigFile } = await import("../src/cli/config-file.ts");
    const dir = mkdtempSync(join(tmpdir(), "apt-ostree-config-"));
    try {
      expect(() => readConfigFile(dir)).toThrow(`cannot read config file ${dir}: is a directory`);
      expect(() => readConfigFile(join(dir, "none.yaml"))).toThrow(`config file not found: ${join(dir, "none.yaml")}`);
      // Where a YAML file goes wrong, by line; a format we do not read is named, not parsed as JSON.
      const yaml = join(dir, "c.yaml");
      writeFileSync(yaml, "labels:\n  a: b\n bad: [\n");
      expect(() => readConfigFile(yaml)).toThrow(`${yaml}: not valid YAML at line 3, column 1: All mapping items must start at the same column`);
      writeFileSync(yaml, "env: [A=1]\nenv: [B=2]\n");
      expect(() => readConfigFile(yaml)).toThrow(`${yaml}: not valid YAML at line 2, column 1: Map keys must be unique`);
      const ini = join(dir, "c.ini");
      writeFileSync(ini, "[image]\nlabel=a\n");
      expect(() => readConfigFile(ini)).toThrow(`${ini}: unknown config file format '.ini' (use .json, .yaml, .yml or .toml)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
