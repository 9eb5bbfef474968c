/**
 * The architectures apt-ostree knows, by Debian name, with what each is called elsewhere: in OCI
 * platforms, by qemu-user, binfmt_misc and uname, and by Node's `process.arch`. One table, read by
 * compose (qemu), image configs (OCI) and the registry commands (the host's platform).
 */

export interface OciArch {
  architecture: string;
  variant?: string;
}

interface ArchNames {
  oci: OciArch;
  /** qemu-user's and binfmt_misc's name, which is also uname's. */
  qemu: string;
  /** Node's `process.arch`, where Node runs on it. */
  node?: string;
}

const ARCHES: Readonly<Record<string, ArchNames>> = {
  amd64: { oci: { architecture: "amd64" }, qemu: "x86_64", node: "x64" },
  arm64: { oci: { architecture: "arm64", variant: "v8" }, qemu: "aarch64", node: "arm64" },
  armhf: { oci: { architecture: "arm", variant: "v7" }, qemu: "arm", node: "arm" },
  armel: { oci: { architecture: "arm", variant: "v5" }, qemu: "arm" },
  i386: { oci: { architecture: "386" }, qemu: "i386", node: "ia32" },
  ppc64el: { oci: { architecture: "ppc64le" }, qemu: "ppc64le", node: "ppc64" },
  s390x: { oci: { architecture: "s390x" }, qemu: "s390x", node: "s390x" },
  riscv64: { oci: { architecture: "riscv64" }, qemu: "riscv64", node: "riscv64" },
  mips64el: { oci: { architecture: "mips64le" }, qemu: "mips64el" },
  loong64: { oci: { architecture: "loong64" }, qemu: "loongarch64", node: "loong64" },
};

export const DEBIAN_ARCHITECTURES = Object.keys(ARCHES);
const OCI_ARCHITECTURES = new Set(Object.values(ARCHES).map((a) => a.oci.architecture));

export function isDebianArch(arch: string): boolean {
  return Object.hasOwn(ARCHES, arch);
}

/** A Debian architecture name, or the OCI name of one of them (arm, 386, ppc64le...). */
export function isKnownArch(arch: string): boolean {
  return isDebianArch(arch) || OCI_ARCHITECTURES.has(arch);
}

/** The OCI platform fields of a Debian architecture; an OCI name stands for itself. */
export function platformForDebianArch(arch: string): OciArch {
  if (!isKnownArch(arch)) throw new Error(`unknown architecture '${arch}'`);
  return ociArchOf(arch);
}

/** What `uname -m` says on machines whose name is not qemu's: 32-bit ARM and x86. */
const UNAME_ALIASES: Readonly<Record<string, string>> = { armv7l: "armhf", armv8l: "armhf", i686: "i386", i586: "i386" };

/** The OCI platform fields for a Debian, uname (x86_64, aarch64, armv7l, i686) or OCI name; unknown ones as they are. */
export function ociArchOf(arch: string): OciArch {
  if (Object.hasOwn(UNAME_ALIASES, arch)) return ARCHES[UNAME_ALIASES[arch]].oci;
  if (isDebianArch(arch)) return ARCHES[arch].oci;
  const byUname = Object.values(ARCHES).find((a) => a.qemu === arch && a.qemu !== a.oci.architecture);
  return byUname ? byUname.oci : { architecture: arch };
}

/** qemu-user's name for a Debian architecture; undefined for one apt-ostree does not know. */
export function qemuArch(arch: string): string | undefined {
  return isDebianArch(arch) ? ARCHES[arch].qemu : undefined;
}

/** The Debian architecture of the machine we run on (Node's name when there is none). */
export function hostDebianArch(nodeArch: string = process.arch): string {
  return Object.entries(ARCHES).find(([, a]) => a.node === nodeArch)?.[0] ?? nodeArch;
}
