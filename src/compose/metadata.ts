// The commit metadata compose writes (keys agreed with `oci build`, which reads version,
// ostree.linux, ostree.bootable and apt-ostree.architecture). Pure: runs under Node.

import { byName } from "./packages.ts";

export type MetadataValue = string | boolean | number | string[];

export interface MetadataInput {
  release?: string;
  arch?: string;
  variant?: string;
  version?: string;
  /** Kernel versions with /usr/lib/modules/$kver/vmlinuz (reshape.ts, installedKernels). */
  kernels: string[];
  packages: string[];
  /** Seconds since the epoch, for the default version (SOURCE_DATE_EPOCH or now). */
  time: number;
  /** User metadata (compose file `metadata`, --metadata KEY=VALUE); computed keys win. */
  extra?: Record<string, MetadataValue>;
}

export function defaultVersion(release: string | undefined, time: number): string {
  const d = new Date(time * 1000);
  const ymd = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, "0")}${String(d.getUTCDate()).padStart(2, "0")}`;
  return `${release ?? "debian"}.${ymd}`;
}

/** What a commit records: numbers only as strings (ostree's --add-metadata stores numbers byte-swapped). */
export type CommitMetadataValue = string | boolean | string[];

export function buildMetadata(input: MetadataInput): Record<string, CommitMetadataValue> {
  const meta: Record<string, CommitMetadataValue> = Object.fromEntries(Object.entries(input.extra ?? {}).map(([k, v]) => [k, typeof v === "number" ? String(v) : v]));
  meta.version = input.version ?? defaultVersion(input.release, input.time);
  delete meta["ostree.bootable"];
  delete meta["ostree.linux"];
  if (input.kernels.length > 0) {
    meta["ostree.bootable"] = true;
    // The newest: 6.1.0-10-amd64 over 6.1.0-9-amd64, which a plain sort() puts last.
    meta["ostree.linux"] = [...input.kernels].sort(compareVersions).pop()!;
  }
  if (input.release) meta["apt-ostree.release"] = input.release;
  if (input.arch) meta["apt-ostree.architecture"] = input.arch;
  if (input.variant) meta["apt-ostree.variant"] = input.variant;
  meta["apt-ostree.packages"] = [...input.packages].sort(byName);
  return meta;
}

/**
 * dpkg's order of version strings (upstream or revision part, as dpkg's verrevcmp): runs of digits
 * compare as numbers, the text between them character by character, letters before other
 * characters and `~` before anything, even the end ("1.0~rc1" < "1.0").
 */
export function compareVersions(a: string, b: string): number {
  const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
  const order = (c: string | undefined) =>
    c === undefined || isDigit(c) ? 0 : c === "~" ? -1 : /[A-Za-z]/.test(c) ? c.charCodeAt(0) : c.charCodeAt(0) + 256;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const diff = order(a[i]) - order(b[j]);
      if (diff) return diff;
      i++;
      j++;
    }
    while (a[i] === "0") i++;
    while (b[j] === "0") j++;
    let first = 0;
    while (isDigit(a[i]) && isDigit(b[j])) {
      first ||= a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (first) return first;
  }
  return 0;
}

/** Keys buildMetadata writes itself: a user's value for one would be overridden or break `ostree pull` (ref-binding). */
export function isComputedMetadataKey(key: string): boolean {
  return ["version", "ostree.bootable", "ostree.linux", "ostree.ref-binding"].includes(key) || key.startsWith("apt-ostree.");
}

/** `--metadata KEY=VALUE`: true/false become booleans, everything else stays a string. */
export function parseMetadataFlag(text: string): [string, MetadataValue] {
  const i = text.indexOf("=");
  if (i <= 0) throw new Error(`--metadata expects KEY=VALUE, got '${text}'`);
  const key = text.slice(0, i);
  const value = text.slice(i + 1);
  return [key, value === "true" ? true : value === "false" ? false : value];
}

export { sourceDateEpoch } from "../epoch.ts";
