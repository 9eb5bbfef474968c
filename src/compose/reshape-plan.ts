// What turns a Debian root filesystem into the shape an OSTree deployment and bootc expect, as a
// list of operations computed from a scan of the tree. Pure (no I/O): the plan is unit-tested under
// Node; reshape.ts scans the tree and applies the plan.
//
// The shape:
//   /etc -> /usr/etc; /boot emptied, kernel, initramfs, System.map and config at
//   /usr/lib/modules/$kver/{vmlinuz,initramfs.img,System.map,config} (as Fedora ships them);
//   /home /root /opt /srv /mnt /media and /usr/local are links into /var (or /run) as OSTree does it;
//   /dev /proc /sys /run /tmp are empty; /sysroot, /ostree -> sysroot/ostree, prepare-root.conf;
//   the dpkg database lives at /usr/share/dpkg/database; /var holds only the link
//   var/lib/dpkg -> ../../usr/share/dpkg/database; everything else /var had is described by
//   /usr/lib/tmpfiles.d/apt-ostree-var.conf (directories `d`, links `L`, files `C` copied from
//   /usr/share/factory/var) and recreated on the deployed system.
import { formatLine, type TmpfilesLine } from "./tmpfiles.ts";

export interface Entry {
  /** Relative to the root, without a leading slash: "var/lib/apt". */
  path: string;
  type: "file" | "dir" | "symlink" | "other";
  mode: number;
  uid: number;
  gid: number;
  /** Symlink target. */
  target?: string;
}

export type Op =
  | { op: "move"; from: string; to: string }
  | { op: "remove"; path: string }
  | { op: "symlink"; path: string; target: string }
  | { op: "mkdir"; path: string; mode: number; uid?: number; gid?: number }
  | { op: "write"; path: string; content: string; mode: number }
  | { op: "emptyDir"; path: string; mode: number };

export const DPKG_DATABASE = "usr/share/dpkg/database";
export const DPKG_LINK_TARGET = "../../usr/share/dpkg/database";
export const FACTORY_VAR = "usr/share/factory/var";
export const TMPFILES_CONF = "usr/lib/tmpfiles.d/apt-ostree-var.conf";
/** Prefix of the comment lines that record entries another tmpfiles.d file already declares. */
export const RECORDED_PREFIX = "#apt-ostree:";
export const PREPARE_ROOT_CONF = "usr/lib/ostree/prepare-root.conf";

/** Top-level directories that OSTree systems link into /var (or /run). */
export const VAR_LINKS: Readonly<Record<string, string>> = {
  home: "var/home",
  root: "var/roothome",
  opt: "var/opt",
  srv: "var/srv",
  mnt: "var/mnt",
  media: "run/media",
};

/** API filesystems and scratch space: committed empty, with these modes. */
export const EMPTY_DIRS: Readonly<Record<string, number>> = {
  dev: 0o755,
  proc: 0o555,
  sys: 0o555,
  run: 0o755,
  tmp: 0o1777,
  boot: 0o755,
};

const KERNEL_LINKS = ["vmlinuz", "vmlinuz.old", "initrd.img", "initrd.img.old"];

/**
 * A kernel's files in /boot (NAME-$kver) and their names in /usr/lib/modules/$kver. Only vmlinuz
 * and the initramfs boot; System.map and config move along rather than vanish with /boot: tools
 * read them there (perf, DKMS builds), and the undo before `compose install` puts them back where
 * the kernel package lists them.
 */
export const KERNEL_FILES: readonly { boot: string; modules: string }[] = [
  { boot: "vmlinuz", modules: "vmlinuz" },
  { boot: "initrd.img", modules: "initramfs.img" },
  { boot: "System.map", modules: "System.map" },
  { boot: "config", modules: "config" },
];

export interface TopScan {
  /** Root-level entries. */
  top: Entry[];
  /** Entries directly in /boot. */
  boot: Entry[];
  /** Children of opt/ when /opt is a real directory. */
  opt: Entry[];
  /** Names in usr/lib/modules. */
  modules: string[];
  usrEtc: boolean;
  dpkgDatabase: boolean;
  varLibDpkg?: Entry;
  /** usr/local, if it exists. */
  usrLocal?: Entry;
  prepareRootConf: boolean;
}

export interface TopPlan {
  ops: Op[];
  warnings: string[];
  kernels: string[];
}

export class ReshapeError extends Error {}

/** Phase one: everything outside /var (and moving the dpkg database out of it). */
export function planTop(scan: TopScan): TopPlan {
  const ops: Op[] = [];
  const warnings: string[] = [];
  const top = new Map(scan.top.map((e) => [e.path, e]));
  if (!top.get("usr") || top.get("usr")!.type !== "dir") throw new ReshapeError("not a root filesystem: /usr is missing");

  // /etc -> /usr/etc
  const etc = top.get("etc");
  if (etc?.type === "dir") {
    if (scan.usrEtc) throw new ReshapeError("both /etc and /usr/etc exist; remove one of them");
    ops.push({ op: "move", from: "etc", to: "usr/etc" });
  } else if (!scan.usrEtc) {
    throw new ReshapeError("not a root filesystem: neither /etc nor /usr/etc exists");
  }

  // Kernels: /boot/vmlinuz-$kver and its other files (KERNEL_FILES) -> /usr/lib/modules/$kver/
  const kernels = new Set<string>();
  const moved = new Set<string>();
  for (const e of scan.boot) {
    const name = e.path.slice("boot/".length);
    const m = name.match(/^vmlinuz-(.+)$/);
    if (m && e.type === "file") {
      const kver = m[1];
      if (!scan.modules.includes(kver)) warnings.push(`kernel ${kver} has no /usr/lib/modules/${kver}`);
      kernels.add(kver);
      ops.push({ op: "mkdir", path: `usr/lib/modules/${kver}`, mode: 0o755 });
      for (const f of KERNEL_FILES) {
        const from = `boot/${f.boot}-${kver}`;
        if (scan.boot.some((b) => b.path === from && b.type === "file")) {
          ops.push({ op: "move", from, to: `usr/lib/modules/${kver}/${f.modules}` });
          moved.add(from);
        } else if (f.boot === "initrd.img") {
          warnings.push(`kernel ${kver} has no initramfs (/${from})`);
        }
      }
    }
  }
  for (const name of KERNEL_LINKS) if (top.get(name)?.type === "symlink") ops.push({ op: "remove", path: name });
  // /boot is emptied below: say what goes (the links some systems keep there are made again by the
  // kernel's postinst on the next install).
  const dropped = scan.boot.filter((e) => !moved.has(e.path) && !(e.type === "symlink" && KERNEL_LINKS.includes(e.path.slice("boot/".length))));
  if (dropped.length) warnings.push(`dropped from /boot, which is committed empty: ${dropped.map((e) => e.path.slice("boot/".length)).join(", ")}`);

  // The dpkg database moves under /usr; /var/lib/dpkg becomes a link to it.
  if (scan.varLibDpkg?.type === "dir") {
    if (scan.dpkgDatabase) throw new ReshapeError(`both /var/lib/dpkg and /${DPKG_DATABASE} exist`);
    ops.push({ op: "move", from: "var/lib/dpkg", to: DPKG_DATABASE });
    ops.push({ op: "symlink", path: "var/lib/dpkg", target: DPKG_LINK_TARGET });
  } else if (scan.dpkgDatabase && !scan.varLibDpkg) {
    ops.push({ op: "mkdir", path: "var/lib", mode: 0o755 });
    ops.push({ op: "symlink", path: "var/lib/dpkg", target: DPKG_LINK_TARGET });
  } else if (!scan.dpkgDatabase && !scan.varLibDpkg) {
    warnings.push("no dpkg database (/var/lib/dpkg): the commit will have no package list");
  }

  // /opt content is read-only software: it moves to /usr/lib/opt, /var/opt/NAME links to it.
  if (top.get("opt")?.type === "dir") {
    for (const e of scan.opt) {
      const name = e.path.slice("opt/".length);
      ops.push({ op: "mkdir", path: "usr/lib/opt", mode: 0o755 });
      ops.push({ op: "move", from: e.path, to: `usr/lib/opt/${name}` });
      ops.push({ op: "mkdir", path: "var/opt", mode: 0o755 });
      ops.push({ op: "symlink", path: `var/opt/${name}`, target: `../../usr/lib/opt/${name}` });
    }
  }

  // /home, /root, ... -> links into /var (content moves along and becomes tmpfiles lines later)
  for (const [name, target] of Object.entries(VAR_LINKS)) {
    const e = top.get(name);
    if (e?.type === "symlink") continue;
    if (e?.type === "dir") {
      if (target.startsWith("var/") && name !== "opt") {
        ops.push({ op: "move", from: name, to: target });
      } else if (name === "opt") {
        ops.push({ op: "mkdir", path: target, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid });
        ops.push({ op: "remove", path: name });
      } else {
        ops.push({ op: "remove", path: name });
      }
    } else if (e) {
      ops.push({ op: "remove", path: name });
    }
    if (target.startsWith("var/") && !e) ops.push({ op: "mkdir", path: target, mode: name === "root" ? 0o700 : 0o755 });
    ops.push({ op: "symlink", path: name, target });
  }

  // /usr/local is where people install by hand: writable on a deployed system only as a link into
  // /var (rpm-ostree's choice too). Its directories become tmpfiles.d lines with the rest of /var.
  if (scan.usrLocal?.type !== "symlink") {
    if (scan.usrLocal?.type === "dir") ops.push({ op: "move", from: "usr/local", to: "var/usrlocal" });
    else {
      if (scan.usrLocal) ops.push({ op: "remove", path: "usr/local" });
      ops.push({ op: "mkdir", path: "var/usrlocal", mode: 0o755 });
    }
    ops.push({ op: "symlink", path: "usr/local", target: "../var/usrlocal" });
  }

  if (top.get("lost+found")?.type === "dir") ops.push({ op: "remove", path: "lost+found" });

  for (const [name, mode] of Object.entries(EMPTY_DIRS)) {
    const e = top.get(name);
    if (e && e.type !== "dir") ops.push({ op: "remove", path: name });
    ops.push({ op: "emptyDir", path: name, mode });
  }

  // What bootc wants besides: /sysroot, /ostree -> sysroot/ostree, prepare-root.conf
  const sysroot = top.get("sysroot");
  if (sysroot && sysroot.type !== "dir") ops.push({ op: "remove", path: "sysroot" });
  ops.push({ op: "emptyDir", path: "sysroot", mode: 0o755 });
  const ostree = top.get("ostree");
  if (!(ostree?.type === "symlink" && ostree.target === "sysroot/ostree")) {
    if (ostree) ops.push({ op: "remove", path: "ostree" });
    ops.push({ op: "symlink", path: "ostree", target: "sysroot/ostree" });
  }
  if (!scan.prepareRootConf) {
    ops.push({ op: "mkdir", path: "usr/lib/ostree", mode: 0o755 });
    ops.push({ op: "write", path: PREPARE_ROOT_CONF, content: "[composefs]\nenabled = maybe\n", mode: 0o644 });
  }

  if (kernels.size > 1) warnings.push(`more than one kernel (${[...kernels].join(", ")}); bootc expects one`);
  return { ops, warnings, kernels: [...kernels] };
}

/** /var content that is state or cache of the build, not something the deployed system needs. */
export function isDroppedVarEntry(e: Entry): boolean {
  const p = e.path;
  if (/^var\/tmp\/./.test(p)) return true;
  if (e.type === "dir") return false;
  return (
    /^var\/cache\/apt\/./.test(p) ||
    /^var\/lib\/apt\/lists\/./.test(p) ||
    /^var\/log\/./.test(p) ||
    /^var\/cache\/(man|ldconfig)\/./.test(p) ||
    /^var\/backups\/./.test(p) ||
    /^var\/cache\/debconf\/.*-old$/.test(p) ||
    p === "var/lib/systemd/random-seed" ||
    p === "var/lib/dbus/machine-id" ||
    e.type === "other"
  );
}

export interface VarPlan {
  ops: Op[];
  tmpfiles: string;
  lines: TmpfilesLine[];
}

/** Entries kept in the committed /var (they are also in the tmpfiles.d file). */
export const KEPT_IN_VAR = ["var/lib/dpkg"];

/**
 * Phase two: every entry of /var (recursive, sorted) becomes a tmpfiles.d line, regular files
 * move to /usr/share/factory/var; `declared` are the paths other tmpfiles.d files of the tree
 * already handle (systemd's var.conf and friends): those are only recorded as comments, so that
 * `compose install` can recreate them but systemd-tmpfiles does not see a duplicate.
 */
export function planVar(entries: Entry[], declared: ReadonlySet<string>): VarPlan {
  const ops: Op[] = [];
  const lines: TmpfilesLine[] = [];
  const recorded: TmpfilesLine[] = [];
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const dropped: string[] = [];
  // The factory's directories take the owner of theirs in /var and their mode less write and
  // special bits for group and others (a 0700 home stays private under /usr too; a 1777 /var/tmp
  // does not make a world-writable directory there: tmpfiles.d's lines set /var's own modes).
  const dirs = new Map(sorted.filter((e) => e.type === "dir").map((e) => [e.path, e]));
  const made = new Set<string>();
  const factoryDir = (dir: string) => {
    if (made.has(dir)) return;
    if (dir !== "var") factoryDir(dir.slice(0, dir.lastIndexOf("/")));
    made.add(dir);
    const e = dirs.get(dir);
    ops.push({ op: "mkdir", path: FACTORY_VAR + dir.slice("var".length), mode: e ? e.mode & 0o755 : 0o755, uid: e?.uid, gid: e?.gid });
  };
  for (const e of sorted) {
    if (e.path === "var") continue;
    if (dropped.some((d) => e.path.startsWith(d + "/"))) continue;
    if (isDroppedVarEntry(e)) {
      if (e.type === "dir") dropped.push(e.path);
      continue;
    }
    const abs = "/" + e.path;
    let line: TmpfilesLine;
    if (e.type === "dir") {
      line = { type: "d", path: abs, mode: mode4(e.mode), user: String(e.uid), group: String(e.gid) };
    } else if (e.type === "symlink") {
      line = { type: "L", path: abs, argument: e.target ?? "" };
    } else {
      const factory = `${FACTORY_VAR}/${e.path.slice("var/".length)}`;
      factoryDir(e.path.slice(0, e.path.lastIndexOf("/")));
      ops.push({ op: "move", from: e.path, to: factory });
      line = { type: "C", path: abs, argument: "/" + factory };
    }
    if (declared.has(abs)) recorded.push(line);
    else lines.push(line);
  }
  ops.push({ op: "emptyDir", path: "var", mode: 0o755 });
  ops.push({ op: "mkdir", path: "var/lib", mode: 0o755 });
  for (const keep of KEPT_IN_VAR) {
    const e = entries.find((x) => x.path === keep);
    if (e?.type === "symlink" && e.target) ops.push({ op: "symlink", path: keep, target: e.target });
  }
  const text = [
    "# Written by apt-ostree compose: what /var held when this tree was built. The commit's /var",
    "# is empty (but for var/lib/dpkg); systemd-tmpfiles recreates the rest on the deployed system.",
    ...lines.map(formatLine),
    ...(recorded.length ? ["# Declared by other tmpfiles.d files too (kept for apt-ostree compose install):"] : []),
    ...recorded.map((l) => `${RECORDED_PREFIX} ${formatLine(l)}`),
    "",
  ].join("\n");
  ops.push({ op: "mkdir", path: "usr/lib/tmpfiles.d", mode: 0o755 });
  ops.push({ op: "write", path: TMPFILES_CONF, content: text, mode: 0o644 });
  return { ops, tmpfiles: text, lines: [...lines, ...recorded] };
}

function mode4(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

export interface UndoScan {
  /** Lines of our tmpfiles.d file, including the recorded ones. */
  lines: TmpfilesLine[];
  /** Kernel versions with a vmlinuz in usr/lib/modules, and which KERNEL_FILES (their `modules` names) are there. */
  kernels: { kver: string; files: string[] }[];
  usrEtc: boolean;
  etc: boolean;
  dpkgDatabase: boolean;
}

/**
 * The reverse, enough for apt and dpkg to run in a checkout (`compose install`/`remove`):
 * /etc back, /var recreated from the tmpfiles.d lines (factory files moved back), the dpkg
 * database back in /var/lib/dpkg, kernels back in /boot. Reshaping again afterwards yields the
 * committed shape.
 */
export function planUndo(scan: UndoScan): Op[] {
  const ops: Op[] = [];
  if (scan.usrEtc && !scan.etc) ops.push({ op: "move", from: "usr/etc", to: "etc" });
  const sorted = [...scan.lines].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const l of sorted) {
    if (!l.path.startsWith("/var/")) continue;
    const rel = l.path.slice(1);
    if (KEPT_IN_VAR.includes(rel)) continue;
    if (l.type === "d") ops.push({ op: "mkdir", path: rel, mode: parseInt(l.mode ?? "0755", 8), uid: num(l.user), gid: num(l.group) });
    else if (l.type === "L" && l.argument !== undefined) ops.push({ op: "symlink", path: rel, target: l.argument });
    else if (l.type === "C" && l.argument?.startsWith(`/${FACTORY_VAR}/`)) ops.push({ op: "move", from: l.argument.slice(1), to: rel });
  }
  if (scan.dpkgDatabase) {
    ops.push({ op: "remove", path: "var/lib/dpkg" });
    ops.push({ op: "move", from: DPKG_DATABASE, to: "var/lib/dpkg" });
  }
  ops.push({ op: "remove", path: FACTORY_VAR });
  ops.push({ op: "remove", path: TMPFILES_CONF });
  for (const k of scan.kernels) {
    for (const f of KERNEL_FILES) {
      if (k.files.includes(f.modules)) ops.push({ op: "move", from: `usr/lib/modules/${k.kver}/${f.modules}`, to: `boot/${f.boot}-${k.kver}` });
    }
  }
  return ops;
}

function num(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}
