// The releases `compose base` knows by name, and the architectures it can build. Pure data and
// lookups: no I/O, so unit tests run it under Node.
import { DEBIAN_ARCHITECTURES, qemuArch } from "../arch.ts";
import { ExitCode, UserError } from "../errors.ts";

export type Distro = "debian" | "ubuntu";

export interface Release {
  name: string;
  distro: Distro;
  /** Default components; the user may replace them with --components. */
  components: string[];
  /** Keyring that signs the archive (on a Debian host: debian-archive-keyring / ubuntu-keyring). */
  keyring: string;
  /** Host package that provides `keyring`. */
  keyringPackage: string;
  /** Whether the release has -updates and -security suites (a stable release; not sid). */
  updates: boolean;
}

const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
const UBUNTU_KEYRING = "/usr/share/keyrings/ubuntu-archive-keyring.gpg";

export const RELEASES: readonly Release[] = [
  ...["bullseye", "bookworm", "trixie", "sid"].map((name) => ({
    name,
    distro: "debian" as const,
    components: ["main"],
    keyring: DEBIAN_KEYRING,
    keyringPackage: "debian-archive-keyring",
    updates: name !== "sid",
  })),
  ...["jammy", "noble", "questing"].map((name) => ({
    name,
    distro: "ubuntu" as const,
    components: ["main", "universe"],
    keyring: UBUNTU_KEYRING,
    keyringPackage: "ubuntu-keyring",
    updates: true,
  })),
];

export const VARIANTS = ["minbase", "apt", "important", "standard"] as const;
export type Variant = (typeof VARIANTS)[number];

export function knownReleaseNames(): string[] {
  return RELEASES.map((r) => r.name);
}

export function findRelease(name: string): Release {
  const release = RELEASES.find((r) => r.name === name);
  if (!release) {
    throw new UserError(`unknown release '${name}'; known releases: ${knownReleaseNames().join(", ")}`, ExitCode.Usage);
  }
  return release;
}

/** qemu-user's name for a Debian architecture; a usage error for one apt-ostree does not know. */
export function checkArchitecture(arch: string): string {
  const qemu = qemuArch(arch);
  if (!qemu) {
    throw new UserError(`unknown architecture '${arch}'; known: ${DEBIAN_ARCHITECTURES.join(", ")}`, ExitCode.Usage);
  }
  return qemu;
}

export function checkVariant(variant: string): Variant {
  if (!(VARIANTS as readonly string[]).includes(variant)) {
    throw new UserError(`unknown variant '${variant}'; known: ${VARIANTS.join(", ")}`, ExitCode.Usage);
  }
  return variant as Variant;
}

/** The archive a release is fetched from by default (Ubuntu keeps non-x86 architectures on ports). */
export function defaultMirror(release: Release, arch: string): string {
  if (release.distro === "debian") return "http://deb.debian.org/debian";
  return arch === "amd64" || arch === "i386" ? "http://archive.ubuntu.com/ubuntu" : "http://ports.ubuntu.com/ubuntu-ports";
}

/** Debian's security archive: a tree of its own (Ubuntu's -security suite is in the main archive). */
export const DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security";

/**
 * The archives a system is built from and keeps in its sources.list: the release itself, and for
 * a stable release its -updates and -security suites, as mmdebstrap and debootstrap's users get
 * by default. Without them a composed system would never see a security fix, and neither would
 * the packages `compose install` adds later. One-line sources.list entries (mmdebstrap's mirror
 * arguments); `securityMirror` replaces Debian's security archive (a local mirror of it).
 */
export function archiveSources(o: { release: Release; mirror: string; components: string[]; updates: boolean; securityMirror?: string }): string[] {
  const line = (url: string, suite: string) => `deb ${url} ${suite} ${o.components.join(" ")}`;
  const sources = [line(o.mirror, o.release.name)];
  if (!o.updates || !o.release.updates) return sources;
  sources.push(line(o.mirror, `${o.release.name}-updates`));
  const security = o.securityMirror ?? (o.release.distro === "debian" ? DEBIAN_SECURITY_MIRROR : o.mirror);
  sources.push(line(security, `${o.release.name}-security`));
  return sources;
}

/** Architectures the host runs natively besides its own (amd64 runs i386). */
export function runsNatively(host: string, target: string): boolean {
  if (host === target) return true;
  if (host === "amd64" && target === "i386") return true;
  if (host === "arm64" && (target === "armhf" || target === "armel")) return false;
  return false;
}
