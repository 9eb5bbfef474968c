// Flag handling of `oci build`: defaults < config file < flags, and conflicts are usage errors.
import { describe, expect, it } from "vitest";
import { joinNegativeValues } from "../src/cli/main.ts";
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
