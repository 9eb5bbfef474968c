// Planning layers by dpkg package: the pure parts, and the plan of a small fake dpkg database.
import { afterAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DPKG_DATABASE_PATHS, groupPackages, parseDpkgStatus, planPackageLayers } from "../src/package-layers.ts";
import { checkoutPlanningSkeleton } from "../src/ostree.ts";
import { tempDir } from "./helpers/cli.ts";

const tmp = tempDir("package-layers-");
afterAll(() => tmp.cleanup());

const status = (name: string, size: number, state = "install ok installed", arch = "amd64") =>
  `Package: ${name}\nStatus: ${state}\nPriority: optional\nInstalled-Size: ${size}\nArchitecture: ${arch}\nVersion: 1.0\nDescription: x\n continued line\n`;

describe("parseDpkgStatus", () => {
  it("keeps installed packages only, sorted, with their sizes", () => {
    const text = [status("zlib1g", 160), status("bash", 7000), status("old", 5, "deinstall ok config-files"), status("awk", 10, "install ok half-configured")].join("\n");
    expect(parseDpkgStatus(text)).toEqual([
      { name: "bash", arch: "amd64", installedSize: 7000 },
      { name: "zlib1g", arch: "amd64", installedSize: 160 },
    ]);
  });
});

describe("groupPackages", () => {
  const many = Array.from({ length: 200 }, (_, i) => ({ name: `pkg${i}`, size: 10 + (i % 7) }));

  it("gives packages bigger than an even share a group each, largest first, and never more groups than asked", () => {
    const groups = groupPackages([...many, { name: "kernel", size: 5000 }, { name: "firmware", size: 3000 }], 5);
    expect(groups[0]).toEqual(["kernel"]);
    expect(groups[1]).toEqual(["firmware"]);
    expect(groups.length).toBeLessThanOrEqual(5);
    expect(groups.flat().sort()).toEqual([...many.map((p) => p.name), "kernel", "firmware"].sort());
    expect(groupPackages(many, 1)).toEqual([many.map((p) => p.name).sort()]);
  });

  it("keeps a package in its group when other packages come and go", () => {
    const before = groupPackages(many, 4);
    const after = groupPackages([...many.slice(0, 150), ...many.slice(160), { name: "newcomer", size: 12 }], 4);
    const groupOf = (groups: string[][], name: string) => groups.findIndex((g) => g.includes(name));
    for (const p of many.slice(0, 150)) expect(groupOf(after, p.name)).toBe(groupOf(before, p.name));
    expect(() => groupPackages(many, 0)).toThrow();
  });
});

describe("planPackageLayers", () => {
  it("plans package layers and a last layer from a tree's dpkg database", () => {
    const tree = join(tmp.path, "tree");
    const info = join(tree, "var/lib/dpkg/info");
    mkdirSync(info, { recursive: true });
    mkdirSync(join(tree, "usr/lib"), { recursive: true });
    symlinkSync("usr/lib", join(tree, "lib"));
    writeFileSync(join(tree, "var/lib/dpkg/status"), [status("big", 9000), status("libc6", 100), status("tzdata", 100, "install ok installed", "all")].join("\n"));
    writeFileSync(join(info, "big.list"), "/.\n/usr\n/usr/share/big\n/usr/share/big/data\n");
    writeFileSync(join(info, "libc6:amd64.list"), "/.\n/lib\n/lib/libc.so.6\n/usr/share/big/data\n");
    writeFileSync(join(info, "tzdata.list"), "/.\n/usr/share/zoneinfo/UTC\n");
    const plan = planPackageLayers(tree, 3)!;
    // big is more than an even share: a layer of its own; libc6 and tzdata share the other. The
    // lists go to the native core as they are (it maps /lib and gives a path to the first layer).
    expect(plan.packages).toEqual([["big"], ["libc6", "tzdata"]]);
    expect(plan.lists).toEqual(["/.\n/usr\n/usr/share/big\n/usr/share/big/data\n", "/.\n/lib\n/lib/libc.so.6\n/usr/share/big/data\n/.\n/usr/share/zoneinfo/UTC\n"]);
    expect(plan.links).toEqual(["lib=usr/lib"]);
    expect(planPackageLayers(tree, 1)).toBeUndefined();
    expect(planPackageLayers(join(tmp.path, "empty"), 4)).toBeUndefined();
  });

  it("puts the kernel files compose moved to /usr/lib/modules/$kver, and the initramfs, in the kernel package's layer", () => {
    const kver = "6.1.0-9-amd64";
    const make = (name: string, moved: string[]) => {
      const tree = join(tmp.path, name);
      const info = join(tree, "usr/share/dpkg/database/info");
      mkdirSync(info, { recursive: true });
      writeFileSync(join(tree, "usr/share/dpkg/database/status"), [status(`linux-image-${kver}`, 400000), status("bash", 7000)].join("\n"));
      const boot = ["vmlinuz", "System.map", "config"].map((n) => `/boot/${n}-${kver}`).join("\n");
      writeFileSync(join(info, `linux-image-${kver}:amd64.list`), `/.\n/boot\n${boot}\n/usr/lib/modules/${kver}\n/usr/lib/modules/${kver}/kernel/fs.ko\n`);
      writeFileSync(join(info, "bash:amd64.list"), "/.\n/usr/bin/bash\n/usr/share/doc/bash/boot/config-x\n");
      for (const f of moved) {
        mkdirSync(join(tree, "usr/lib/modules", kver), { recursive: true });
        writeFileSync(join(tree, "usr/lib/modules", kver, f), f);
      }
      return planPackageLayers(tree, 3)!;
    };
    // A composed tree: what compose moved there (this one has no config), the initramfs with them.
    const composed = make("kernel-tree", ["vmlinuz", "System.map", "initramfs.img"]);
    expect(composed.packages).toEqual([[`linux-image-${kver}`], ["bash"]]);
    expect(composed.lists[0].split("\n").slice(-4)).toEqual([`/usr/lib/modules/${kver}/vmlinuz`, `/usr/lib/modules/${kver}/initramfs.img`, `/usr/lib/modules/${kver}/System.map`, ""]);
    expect(composed.lists[1]).toBe("/.\n/usr/bin/bash\n/usr/share/doc/bash/boot/config-x\n");
    // A commit's planning skeleton has no /usr/lib/modules to tell: all of them (the core skips what is not there).
    const skeleton = make("kernel-skeleton", []);
    expect(skeleton.lists[0].split("\n").filter((l) => l.startsWith(`/usr/lib/modules/${kver}/`) && !l.endsWith(".ko")).sort()).toEqual(
      ["System.map", "config", "initramfs.img", "vmlinuz"].map((n) => `/usr/lib/modules/${kver}/${n}`),
    );
  });

  it("never follows a symlinked database out of the tree", () => {
    const tree = join(tmp.path, "escape");
    mkdirSync(join(tree, "var/lib"), { recursive: true });
    symlinkSync("/var/lib/dpkg", join(tree, "var/lib/dpkg"));
    expect(planPackageLayers(tree, 4)).toBeUndefined();
  });
});

describe("checkoutPlanningSkeleton", () => {
  it("gives the top level, usr/etc and the dpkg database of a commit, and nothing behind a link or missing", async () => {
    const repo = join(tmp.path, "skel-repo");
    execFileSync("ostree", ["init", `--repo=${repo}`, "--mode=bare-user"]);
    const commit = (name: string, make: (t: string) => void) => {
      const t = join(tmp.path, `skel-${name}`);
      mkdirSync(t);
      make(t);
      return execFileSync("ostree", ["commit", `--repo=${repo}`, "-b", name, "--no-xattrs", t]).toString().trim();
    };
    // var is a link: its dpkg database is not read (ostree cannot check out below a link).
    const linked = commit("linked", (t) => {
      mkdirSync(join(t, "usr/etc"), { recursive: true });
      mkdirSync(join(t, "usr/share/dpkg/database/info"), { recursive: true });
      writeFileSync(join(t, "usr/share/dpkg/database/status"), status("bash", 10));
      mkdirSync(join(t, "sysroot/var/lib/dpkg"), { recursive: true });
      writeFileSync(join(t, "sysroot/var/lib/dpkg/status"), status("zsh", 10));
      symlinkSync("sysroot/var", join(t, "var"));
      symlinkSync("usr/lib", join(t, "lib"));
      writeFileSync(join(t, "file"), "x");
    });
    const dir = join(tmp.path, "skel-out-linked");
    await checkoutPlanningSkeleton(repo, linked, dir, DPKG_DATABASE_PATHS);
    expect(readdirSync(dir).sort()).toEqual(["lib", "sysroot", "usr", "var"]);
    expect(readlinkSync(join(dir, "var"))).toBe("sysroot/var");
    expect(readlinkSync(join(dir, "lib"))).toBe("usr/lib");
    expect(readdirSync(join(dir, "sysroot"))).toEqual([]);
    expect(lstatSync(join(dir, "usr/etc")).isDirectory()).toBe(true);
    expect(readFileSync(join(dir, "usr/share/dpkg/database/status"), "utf8")).toContain("Package: bash");

    // No usr at all, var a directory: var's database only, no usr made for the other path.
    const plain = commit("plain", (t) => {
      mkdirSync(join(t, "var/lib/dpkg/info"), { recursive: true });
      writeFileSync(join(t, "var/lib/dpkg/status"), [status("zsh", 9000), status("dash", 10)].join("\n"));
      writeFileSync(join(t, "var/lib/dpkg/info/zsh.list"), "/.\n/etc\n/etc/zshrc\n");
      writeFileSync(join(t, "var/lib/dpkg/info/dash.list"), "/.\n/etc\n/etc/dash\n");
      mkdirSync(join(t, "etc"));
    });
    const out = join(tmp.path, "skel-out-plain");
    await checkoutPlanningSkeleton(repo, plain, out, DPKG_DATABASE_PATHS);
    expect(readdirSync(out).sort()).toEqual(["etc", "var"]);
    expect(readdirSync(join(out, "etc"))).toEqual([]);
    expect(readFileSync(join(out, "var/lib/dpkg/status"), "utf8")).toContain("Package: zsh");
    expect(planPackageLayers(out, 4)?.packages).toEqual([["zsh"], ["dash"]]);
  });
});
