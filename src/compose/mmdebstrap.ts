// Building mmdebstrap's command line and reading its errors. Pure: unit-tested under Node.

export interface BootstrapOptions {
  release: string;
  arch: string;
  variant: string;
  include: string[];
  /** One-line sources.list entries ("deb URL SUITE COMPONENTS"), the release's own first. */
  sources: string[];
  components: string[];
  keyring?: string;
  /** Directory or tarball to create. */
  target: string;
}

export function mmdebstrapArgs(o: BootstrapOptions): string[] {
  const args = [
    "--mode=root",
    `--variant=${o.variant}`,
    `--architectures=${o.arch}`,
    `--components=${o.components.join(",")}`,
  ];
  if (o.include.length) args.push(`--include=${o.include.join(",")}`);
  if (o.keyring) args.push(`--keyring=${o.keyring}`);
  // mmdebstrap leaves the host's resolv.conf and hostname in the tree: not part of an image.
  args.push('--customize-hook=rm -f "$1/etc/resolv.conf" "$1/etc/hostname"');
  args.push(o.release, o.target, ...o.sources);
  return args;
}

/**
 * The line of mmdebstrap's (or apt's) stderr that says what went wrong: apt's own `E:` lines come
 * first (unknown package, unreachable mirror), mmdebstrap's generic ones ("apt-get update failed")
 * only when there is nothing better.
 */
export function bootstrapErrorLine(stderr: string): string | undefined {
  const lines = stderr.split("\n").map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => /^(E|Err):/.test(l));
  const generic = /^E: (mmdebstrap|.*failed:|.*exited|run_chroot|apt-get .* failed|error while|setup failed|cannot|Sub-process|.*returned an error code)/i;
  const specific = errors.filter((l) => l.startsWith("E:") && !generic.test(l));
  const pick = specific[0] ?? errors.find((l) => l.startsWith("Err:")) ?? errors[0];
  if (pick) return pick.replace(/\s+/g, " ");
  return lines.filter((l) => !/^I: /.test(l)).pop();
}

/** The `I:` lines mmdebstrap prints as it goes: used for the progress line on a terminal. */
export function progressStep(line: string): string | undefined {
  const m = line.match(/^I: (.+?)\.*$/);
  return m ? m[1] : undefined;
}
