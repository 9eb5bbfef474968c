// Builds the "every hard case" tree that a layer must carry faithfully, and compares trees.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";

const PY = String.raw`
import os, sys, socket
r = os.fsencode(sys.argv[1])
def p(*a): return os.path.join(r, *[os.fsencode(x) if isinstance(x, str) else x for x in a])
os.makedirs(p("usr/bin")); os.makedirs(p("usr/etc")); os.makedirs(p("var/empty")); os.makedirs(p("dev"))
with open(p("usr/bin/tool"), "wb") as f: f.write(b"#!/bin/sh\necho tool\n" * 100)
os.chmod(p("usr/bin/tool"), 0o4755)                                  # setuid
with open(p("usr/bin/sg"), "wb") as f: f.write(b"setgid")
os.chmod(p("usr/bin/sg"), 0o2711)
os.makedirs(p("tmp")); os.chmod(p("tmp"), 0o1777)                    # sticky
with open(p("usr/etc/os-release"), "w") as f: f.write("ID=debian\n")
with open(p("owned"), "w") as f: f.write("owned by 1234:5678\n")
os.chown(p("owned"), 1234, 5678)
os.chown(p("var/empty"), 4000000, 4000001)                           # ids beyond the ustar octal field? (8 digits fit 2097151)
os.link(p("usr/bin/tool"), p("usr/bin/tool-hardlink"))               # hardlink group of 3
os.link(p("usr/bin/tool"), p("hardlink-at-top"))
os.symlink("usr/bin/tool", p("symlink"))
os.symlink("/" + "t" * 150 + "/long/target", p("symlink-long-target"))
os.symlink("dangling/target", p("dangling"))
os.mknod(p("dev/null"), 0o20666, os.makedev(1, 3))                   # char device
os.mknod(p("dev/loop0"), 0o60660, os.makedev(7, 0))                  # block device
os.mkfifo(p("fifo"), 0o644)
s = socket.socket(socket.AF_UNIX); s.bind(p("socket")); s.close()    # skipped with a warning
long_dir = p("d" * 120, "e" * 120)
os.makedirs(long_dir)
with open(os.path.join(long_dir, b"f" * 200), "w") as f: f.write("long path\n")
with open(p(b"non-utf8-\xff\xfe-name"), "w") as f: f.write("bytes\n")
with open(p("empty"), "w") as f: pass
with open(p("sparse"), "wb") as f:
    f.seek(64 << 20); f.write(b"end")                                 # 64 MiB, mostly a hole
with open(p("xattrs"), "w") as f: f.write("x\n")
os.setxattr(p("xattrs"), "user.comment", b"hello \x00 binary")
os.setxattr(p("usr/bin/sg"), "security.capability", bytes.fromhex("0100000200200000000000000000000000000000"))
with open(p("mtime"), "w") as f: f.write("old\n")
os.utime(p("mtime"), (1000000000, 1000000000))
`;

/** Makes the hard-case tree at `dir` (must not exist). Needs root (devices, chown). */
export function makeHardCaseTree(dir: string): void {
  execFileSync("python3", ["-c", PY, dir], { stdio: "inherit" });
}

export interface ManifestEntry {
  path: string;
  name: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  mtime?: number;
  target?: string;
  rdev?: [number, number];
  xattrs: Record<string, string>;
  hardlink_group?: string;
}

export function treeManifest(dir: string): ManifestEntry[] {
  const out = execFileSync("python3", [join(__dirname, "tree_manifest.py"), dir], { maxBuffer: 1 << 30 }).toString();
  return out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/**
 * A small root filesystem with a dpkg database: package `big` (its files present), `ghost` (its
 * files absent), a file no package owns (etc/hostname) and one hardlinked to a file of `big`.
 */
export function makeDpkgTree(root: string): void {
  fs.mkdirSync(join(root, "var/lib/dpkg/info"), { recursive: true });
  fs.mkdirSync(join(root, "usr/share/big"), { recursive: true });
  fs.mkdirSync(join(root, "etc"), { recursive: true });
  fs.writeFileSync(join(root, "usr/share/big/data"), "x".repeat(100000));
  fs.writeFileSync(join(root, "etc/hostname"), "unowned\n");
  // A hardlink group across a package and what no package owns (as a checkout links equal files).
  fs.mkdirSync(join(root, "usr/share/doc/unowned"), { recursive: true });
  fs.writeFileSync(join(root, "usr/share/big/LICENSE"), "the same text\n");
  fs.linkSync(join(root, "usr/share/big/LICENSE"), join(root, "usr/share/doc/unowned/LICENSE"));
  const stanza = (name: string, size: number) => `Package: ${name}\nStatus: install ok installed\nArchitecture: all\nInstalled-Size: ${size}\n`;
  fs.writeFileSync(join(root, "var/lib/dpkg/status"), [stanza("big", 9000), stanza("ghost", 100)].join("\n"));
  fs.writeFileSync(join(root, "var/lib/dpkg/info/big.list"), "/.\n/usr\n/usr/share\n/usr/share/big\n/usr/share/big/LICENSE\n/usr/share/big/data\n");
  fs.writeFileSync(join(root, "var/lib/dpkg/info/ghost.list"), "/.\n/usr/share/ghost/gone\n");
}
