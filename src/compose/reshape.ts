// Scans a root filesystem, applies the reshape plan (reshape-plan.ts) and its reverse. Node fs only
// (no Bun APIs), so the round trip is unit-tested on a synthetic tree under Node.
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  type Stats,
} from "node:fs";
import { dirname, join } from "node:path";
import { UserError } from "../errors.ts";
import { lstatOrUndefined } from "../fs.ts";
import {
  DPKG_DATABASE,
  KERNEL_FILES,
  PREPARE_ROOT_CONF,
  RECORDED_PREFIX,
  ReshapeError,
  TMPFILES_CONF,
  planTop,
  planUndo,
  planVar,
  type Entry,
  type Op,
} from "./reshape-plan.ts";
import { baseType, parseTmpfiles } from "./tmpfiles.ts";

function entryOf(path: string, st: Stats, abs: string): Entry {
  const type = st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "dir" : st.isFile() ? "file" : "other";
  return { path, type, mode: st.mode, uid: st.uid, gid: st.gid, target: type === "symlink" ? readlinkSync(abs) : undefined };
}

function list(root: string, rel: string): Entry[] {
  const abs = join(root, rel);
  const st = lstatOrUndefined(abs);
  if (!st?.isDirectory()) return [];
  return readdirSync(abs)
    .sort()
    .map((name) => {
      const childRel = rel ? `${rel}/${name}` : name;
      return entryOf(childRel, lstatSync(join(root, childRel)), join(root, childRel));
    });
}

function walk(root: string, rel: string, out: Entry[] = []): Entry[] {
  const abs = join(root, rel);
  const st = lstatOrUndefined(abs);
  if (!st) return out;
  out.push(entryOf(rel, st, abs));
  if (st.isDirectory()) for (const name of readdirSync(abs).sort()) walk(root, `${rel}/${name}`, out);
  return out;
}

export function applyOps(root: string, ops: Op[]): void {
  for (const op of ops) {
    switch (op.op) {
      case "move": {
        const from = join(root, op.from);
        const to = join(root, op.to);
        if (!lstatOrUndefined(from)) break;
        mkdirSync(dirname(to), { recursive: true });
        moveMerging(from, to);
        break;
      }
      case "remove":
        rmSync(join(root, op.path), { recursive: true, force: true });
        break;
      case "symlink": {
        const abs = join(root, op.path);
        rmSync(abs, { recursive: true, force: true });
        mkdirSync(dirname(abs), { recursive: true });
        symlinkSync(op.target, abs);
        break;
      }
      case "mkdir": {
        const abs = join(root, op.path);
        const st = lstatOrUndefined(abs);
        if (st && !st.isDirectory()) rmSync(abs, { force: true });
        mkdirSync(abs, { recursive: true });
        chmodSync(abs, op.mode);
        if (op.uid !== undefined || op.gid !== undefined) chownSync(abs, op.uid ?? -1, op.gid ?? -1);
        break;
      }
      case "write": {
        const abs = join(root, op.path);
        mkdirSync(dirname(abs), { recursive: true });
        writeFileSync(abs, op.content, { mode: op.mode });
        chmodSync(abs, op.mode);
        break;
      }
      case "emptyDir": {
        const abs = join(root, op.path);
        if (lstatOrUndefined(abs)?.isDirectory()) {
          for (const name of readdirSync(abs)) rmSync(join(abs, name), { recursive: true, force: true });
        } else {
          rmSync(abs, { force: true });
          mkdirSync(abs);
        }
        chmodSync(abs, op.mode);
        break;
      }
    }
  }
}

/** rename(2), merging into an existing directory (content of `from` wins). */
function moveMerging(from: string, to: string): void {
  const dest = lstatOrUndefined(to);
  if (dest?.isDirectory() && lstatSync(from).isDirectory()) {
    for (const name of readdirSync(from)) moveMerging(join(from, name), join(to, name));
    rmSync(from, { recursive: true, force: true });
    return;
  }
  if (dest) rmSync(to, { recursive: true, force: true });
  renameSync(from, to);
}

/** Paths under /var that the tree's other tmpfiles.d files already declare. */
function declaredPaths(root: string): Set<string> {
  const out = new Set<string>();
  for (const dir of ["usr/lib/tmpfiles.d", "usr/etc/tmpfiles.d"]) {
    for (const e of list(root, dir)) {
      if (e.path === TMPFILES_CONF || !e.path.endsWith(".conf") || e.type !== "file") continue;
      for (const line of parseTmpfiles(readFileSync(join(root, e.path), "utf8"))) {
        if (line.path.startsWith("/var/")) out.add(line.path.replace(/\/+$/, ""));
      }
    }
  }
  return out;
}

export interface ReshapeResult {
  kernels: string[];
  warnings: string[];
}

/** Reshapes `root` in place for an OSTree commit. */
export function reshapeTree(root: string): ReshapeResult {
  try {
    // Already in the committed shape (say, a checkout of one of our commits): undo first, so that
    // /var is described again from its tmpfiles.d lines rather than found empty.
    if (existsSync(join(root, TMPFILES_CONF)) && !existsSync(join(root, "etc"))) unreshapeTree(root);
    const top = list(root, "");
    const varLibDpkg = lstatOrUndefined(join(root, "var/lib/dpkg"));
    const usrLocal = lstatOrUndefined(join(root, "usr/local"));
    const plan = planTop({
      top,
      boot: list(root, "boot"),
      opt: lstatOrUndefined(join(root, "opt"))?.isDirectory() ? list(root, "opt") : [],
      modules: list(root, "usr/lib/modules").map((e) => e.path.split("/").pop()!),
      usrEtc: existsSync(join(root, "usr/etc")),
      dpkgDatabase: existsSync(join(root, DPKG_DATABASE)),
      varLibDpkg: varLibDpkg ? entryOf("var/lib/dpkg", varLibDpkg, join(root, "var/lib/dpkg")) : undefined,
      usrLocal: usrLocal ? entryOf("usr/local", usrLocal, join(root, "usr/local")) : undefined,
      prepareRootConf: existsSync(join(root, PREPARE_ROOT_CONF)),
    });
    applyOps(root, plan.ops);
    const varPlan = planVar(walk(root, "var"), declaredPaths(root));
    applyOps(root, varPlan.ops);
    return { kernels: installedKernels(root), warnings: plan.warnings };
  } catch (error) {
    if (error instanceof ReshapeError) throw new UserError(`cannot reshape ${root}: ${error.message}`);
    throw error;
  }
}

/** Kernel versions with /usr/lib/modules/$kver/vmlinuz. */
export function installedKernels(root: string): string[] {
  return list(root, "usr/lib/modules")
    .filter((e) => e.type === "dir" && existsSync(join(root, e.path, "vmlinuz")))
    .map((e) => e.path.split("/").pop()!);
}

/** Undoes the reshape of a checkout so that apt and dpkg can run in it. */
export function unreshapeTree(root: string): void {
  const confPath = join(root, TMPFILES_CONF);
  const lines = existsSync(confPath)
    ? parseTmpfiles(readFileSync(confPath, "utf8"), RECORDED_PREFIX).map((l) => ({ ...l, type: baseType(l.type) }))
    : [];
  const ops = planUndo({
    lines,
    kernels: installedKernels(root).map((kver) => ({
      kver,
      files: KERNEL_FILES.map((f) => f.modules).filter((name) => existsSync(join(root, `usr/lib/modules/${kver}/${name}`))),
    })),
    usrEtc: existsSync(join(root, "usr/etc")),
    etc: existsSync(join(root, "etc")),
    dpkgDatabase: existsSync(join(root, DPKG_DATABASE)),
  });
  applyOps(root, ops);
}
