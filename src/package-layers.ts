// Splitting a root filesystem into layers by dpkg package. An update of one package then changes
// two layers, the one it is in and the last, and a registry takes the layers in parallel. The files of each
// group of packages form a layer; everything no package owns (generated files, the dpkg database,
// which every update changes) forms the last one. The kernel files compose moved to
// /usr/lib/modules/$kver count as the kernel package's.
//
// Which group a package lands in must not depend on the other packages, or every update would
// reshuffle the layers: the largest packages get a layer each, the others go to a group chosen by
// a hash of their name.
import { lstatSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { lstatOrUndefined } from "./fs.ts";
import { KERNEL_FILES } from "./compose/reshape-plan.ts";

export interface DpkgPackage {
  name: string;
  arch: string;
  /** Installed-Size, in KiB. */
  installedSize: number;
}

/** The package layers of a tree; the native core reads the lists and writes each layer. */
export interface PackageLayers {
  /** Packages of each package layer (the last layer, what no package owns, is not listed). */
  packages: string[][];
  /**
   * Per package layer, the dpkg `.list` files of its packages, concatenated: absolute paths, one a
   * line. Passed as is (one string per layer, not a string per path: a big tree lists hundreds of
   * thousands); a path belongs to the first layer that lists it.
   */
  lists: string[];
  /** Top-level merged-/usr links to follow in those paths, as "lib=usr/lib". */
  links: string[];
}

/** Installed packages of a dpkg `status` file, sorted by name. */
export function parseDpkgStatus(text: string): DpkgPackage[] {
  const packages: DpkgPackage[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, "mi").exec(stanza)?.[1]?.trim();
    const name = field("Package");
    if (!name || !/\binstalled$/.test(field("Status") ?? "")) continue;
    packages.push({ name, arch: field("Architecture") ?? "all", installedSize: Number(field("Installed-Size") ?? 0) || 0 });
  }
  return packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : 1));
}

/** 32-bit FNV-1a: a stable hash, the same in every build and on every host. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/**
 * Groups packages into at most `groups` lists. A package bigger than an even share of the total gets
 * a group of its own (at most groups - 1 of them, largest first); the others are spread over the
 * remaining groups by a hash of the name. Empty groups are dropped; names in a group are sorted.
 */
export function groupPackages(packages: { name: string; size: number }[], groups: number): string[][] {
  if (groups < 1) throw new Error("groups must be at least 1");
  const total = packages.reduce((sum, p) => sum + p.size, 0);
  const bySize = [...packages].sort((a, b) => b.size - a.size || (a.name < b.name ? -1 : 1));
  const own: string[][] = [];
  while (own.length < groups - 1 && bySize.length && bySize[0].size > total / groups) own.push([bySize.shift()!.name]);
  const shared: string[][] = Array.from({ length: groups - own.length }, () => []);
  for (const p of bySize) shared[fnv1a(p.name) % shared.length].push(p.name);
  return [...own, ...shared.filter((g) => g.length).map((g) => g.sort())];
}

/** Where a tree may keep its dpkg database, in the order the split looks: compose's place, then the usual one. */
export const DPKG_DATABASE_PATHS = ["usr/share/dpkg/database", "var/lib/dpkg"];

/** The dpkg database of a tree: where apt-ostree's compose keeps it, else the usual place. */
function findDpkgDatabase(tree: string): string | undefined {
  for (const rel of DPKG_DATABASE_PATHS) {
    const parts = rel.split("/");
    // Every component must be a real directory: a symlink could point out of the tree (at the host's).
    const real = parts.every((_, i) => lstatOrUndefined(join(tree, ...parts.slice(0, i + 1)))?.isDirectory());
    if (real && lstatOrUndefined(join(tree, rel, "status"))?.isFile()) return join(tree, rel);
  }
  return undefined;
}

/**
 * Top-level symlinks into /usr (merged /usr: bin -> usr/bin, lib -> usr/lib): dpkg lists a file as
 * /lib/x while it lives at usr/lib/x.
 */
function usrMergeLinks(tree: string): Map<string, string> {
  const links = new Map<string, string>();
  for (const name of readdirSync(tree)) {
    const path = join(tree, name);
    if (!lstatSync(path).isSymbolicLink()) continue;
    const target = readlinkSync(path).replace(/^\/+/, "").replace(/\/+$/, "");
    if (/^usr\/[^/]+$/.test(target)) links.set(name, target);
  }
  return links;
}

/**
 * Where compose moved a kernel package's /boot/{vmlinuz,System.map,config}-$kver
 * (usr/lib/modules/$kver, src/compose/reshape-plan.ts), and the initramfs generated for that
 * kernel: list lines for the package's layer, or they would be left to the last layer and change it
 * with every kernel update. Only those the tree has, when it has the kernel's module directory; a
 * commit's planning skeleton (src/ostree.ts) has none and cannot tell: then all of them, as a listed
 * path the tree lacks is only a line the core finds nothing for (as /boot/vmlinuz-$kver itself).
 */
function movedKernelFiles(tree: string, list: string): string {
  if (!list.includes("/boot/")) return "";
  let out = "";
  for (const [, name, kver] of list.matchAll(PACKAGED_KERNEL_FILE)) {
    const dir = `usr/lib/modules/${kver}`;
    const known = lstatOrUndefined(join(tree, dir))?.isDirectory();
    const file = KERNEL_FILES.find((f) => f.boot === name)!;
    for (const moved of file.boot === "vmlinuz" ? [file.modules, INITRAMFS.modules] : [file.modules]) {
      if (!known || lstatOrUndefined(join(tree, dir, moved))) out += `/${dir}/${moved}\n`;
    }
  }
  return out;
}

/** The initramfs: generated for a kernel, listed by no package, so it goes with the kernel's vmlinuz. */
const INITRAMFS = KERNEL_FILES.find((f) => f.boot === "initrd.img")!;
/** A list line of a kernel file compose moves (KERNEL_FILES but the initramfs): /boot/NAME-$kver. */
const PACKAGED_KERNEL_FILE = new RegExp(
  `^/boot/(${KERNEL_FILES.filter((f) => f !== INITRAMFS).map((f) => f.boot.replace(/\./g, "\\.")).join("|")})-([^/\n]+)$`,
  "gm",
);

/**
 * Plans the layers of a tree: at most `maxLayers`, the last holding what no package owns. Undefined
 * when the tree has no dpkg database (or no packages), which makes one layer.
 */
export function planPackageLayers(tree: string, maxLayers: number): PackageLayers | undefined {
  if (maxLayers < 2) return undefined;
  const database = findDpkgDatabase(tree);
  if (!database) return undefined;
  const packages = parseDpkgStatus(readFileSync(join(database, "status"), "utf8"));
  if (!packages.length) return undefined;
  const listOf = new Map<string, string[]>();
  const sizes = new Map<string, number>();
  for (const p of packages) {
    let text: string;
    try {
      text = readFileSync(join(database, "info", `${p.name}:${p.arch}.list`), "utf8");
    } catch {
      try {
        text = readFileSync(join(database, "info", `${p.name}.list`), "utf8");
      } catch {
        continue;
      }
    }
    const texts = listOf.get(p.name) ?? [];
    texts.push((text.endsWith("\n") ? text : `${text}\n`) + movedKernelFiles(tree, text));
    listOf.set(p.name, texts);
    sizes.set(p.name, (sizes.get(p.name) ?? 0) + p.installedSize);
  }
  if (!listOf.size) return undefined;
  const groups = groupPackages([...listOf.keys()].map((name) => ({ name, size: sizes.get(name) ?? 0 })), maxLayers - 1);
  return {
    packages: groups,
    lists: groups.map((names) => names.flatMap((n) => listOf.get(n)!).join("")),
    links: [...usrMergeLinks(tree)].map(([name, target]) => `${name}=${target}`),
  };
}
