// SOURCE_DATE_EPOCH (reproducible-builds.org), read the same way by compose and oci build.
import { usageError } from "./errors.ts";

/** Last second of year 9999: ostree, RFC 3339 and a version's date need a four-digit year. */
const LAST = 253402300799;

/** SOURCE_DATE_EPOCH when set, in seconds; empty is unset (as `SOURCE_DATE_EPOCH= cmd` means). */
export function sourceDateEpoch(env: Record<string, string | undefined> = process.env): number | undefined {
  const value = env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === "") return undefined;
  if (!/^\d+$/.test(value)) throw usageError(`SOURCE_DATE_EPOCH must be a whole number of seconds, got '${value}'`);
  if (Number(value) > LAST) throw usageError(`SOURCE_DATE_EPOCH ${value} is after the year 9999`);
  return Number(value);
}
