// What a tree has installed, read from its dpkg database with the host's dpkg-query, and what
// release and architecture it is (for `compose commit` of a tree someone else built).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../exec.ts";
import { UserError } from "../errors.ts";

export interface InstalledPackage {
  name: string;
  arch: string;
  version: string;
}

/** Parses `dpkg-query -W -f '${db:Status-Abbrev}\t${Package}\t${Architecture}\t${Version}\n'`. */
export function parseDpkgQuery(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const line of text.split("\n")) {
    const [status, name, arch, version] = line.split("\t");
    if (!status || !status.startsWith("i") || status[1] !== "i" || !name) continue;
    out.push({ name, arch, version });
  }
  return out;
}

/** Orders `name=version` strings by name (so `foo` sorts before `foo-bar`), then version. */
export function byName(a: string, b: string): number {
  const [na, va = ""] = [a.slice(0, a.indexOf("=") >>> 0), a.slice(a.indexOf("=") + 1)];
  const [nb, vb = ""] = [b.slice(0, b.indexOf("=") >>> 0), b.slice(b.indexOf("=") + 1)];
  return na < nb ? -1 : na > nb ? 1 : va < vb ? -1 : va > vb ? 1 : 0;
}

/** `name=version`, sorted by name; `name:arch=version` for packages of a foreign architecture. */
export function packageList(packages: InstalledPackage[], nativeArch: string): string[] {
  return packages
    .map((p) => `${p.arch === nativeArch || p.arch === "all" ? p.name : `${p.name}:${p.arch}`}=${p.version}`)
    .sort(byName);
}

export async function installedPackages(admindir: string): Promise<InstalledPackage[]> {
  if (!existsSync(join(admindir, "status"))) return [];
  const result = await run("dpkg-query", [`--admindir=${admindir}`, "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Architecture}\t${Version}\n"]);
  if (result.code !== 0) throw new UserError(`cannot read the dpkg database ${admindir}: ${result.stderr.trim()}`);
  return parseDpkgQuery(result.stdout);
}

/** The native architecture of a tree: dpkg itself is never Architecture: all. */
export function nativeArchitecture(packages: InstalledPackage[]): string | undefined {
  return packages.find((p) => p.name === "dpkg")?.arch;
}

/** VERSION_CODENAME from the tree's os-release (usr/lib/os-release or [usr/]etc/os-release). */
export function releaseOf(root: string): string | undefined {
  for (const p of ["usr/lib/os-release", "usr/etc/os-release", "etc/os-release"]) {
    const file = join(root, p);
    try {
      const text = readFileSync(file, "utf8");
      const m = text.match(/^VERSION_CODENAME="?([^"\n]*)"?$/m);
      if (m?.[1]) return m[1];
      // Debian sid/testing have no VERSION_CODENAME in some versions; PRETTY_NAME then says "sid".
      const pretty = text.match(/^PRETTY_NAME="?[^"\n]*\/(sid|[a-z]+)"?$/m);
      if (pretty) return pretty[1];
    } catch {
      // next
    }
  }
  return undefined;
}
