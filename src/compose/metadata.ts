// The commit metadata compose writes (keys agreed with `oci build`, which reads version,
// ostree.linux, ostree.bootable and apt-ostree.architecture). Pure: runs under Node.

import { byName } from "./packages.ts";
import { usageError } from "../errors.ts";

export type MetadataValue = string | boolean | number | string[];

export interface MetadataInput {
  release?: string;
  arch?: string;
  variant?: string;
  version?: string;
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

export function buildMetadata(input: MetadataInput): Record<string, MetadataValue> {
  const meta: Record<string, MetadataValue> = { ...(input.extra ?? {}) };
  meta.version = input.version ?? defaultVersion(input.release, input.time);
  delete meta["ostree.bootable"];
  delete meta["ostree.linux"];
  if (input.kernels.length > 0) {
    meta["ostree.bootable"] = true;
    meta["ostree.linux"] = [...input.kernels].sort().pop()!;
  }
  if (input.release) meta["apt-ostree.release"] = input.release;
  if (input.arch) meta["apt-ostree.architecture"] = input.arch;
  if (input.variant) meta["apt-ostree.variant"] = input.variant;
  meta["apt-ostree.packages"] = [...input.packages].sort(byName);
  return meta;
}

/** `--metadata KEY=VALUE`: true/false become booleans, everything else stays a string. */
export function parseMetadataFlag(text: string): [string, MetadataValue] {
  const i = text.indexOf("=");
  if (i <= 0) throw new Error(`--metadata expects KEY=VALUE, got '${text}'`);
  const key = text.slice(0, i);
  const value = text.slice(i + 1);
  return [key, value === "true" ? true : value === "false" ? false : value];
}

/** SOURCE_DATE_EPOCH when set (validated), else undefined. */
export function sourceDateEpoch(env: Record<string, string | undefined> = process.env): number | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v)) throw usageError(`SOURCE_DATE_EPOCH must be a number of seconds, got '${v}'`);
  // ostree and the version's date need a real date: up to the end of year 9999.
  if (Number(v) > 253402300799) throw usageError(`SOURCE_DATE_EPOCH ${v} is after the year 9999`);
  return Number(v);
}
