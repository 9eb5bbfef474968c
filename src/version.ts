// Filled in at build time by scripts/build.sh through `bun build --define`; these are the values
// seen when running from source.
declare const APT_OSTREE_VERSION: string | undefined;
declare const APT_OSTREE_COMMIT: string | undefined;
declare const APT_OSTREE_TARGET: string | undefined;

export const version = typeof APT_OSTREE_VERSION === "string" ? APT_OSTREE_VERSION : "0.1.0-dev";
export const commit = typeof APT_OSTREE_COMMIT === "string" ? APT_OSTREE_COMMIT : "unknown";
export const target = typeof APT_OSTREE_TARGET === "string" ? APT_OSTREE_TARGET : `source-${process.arch}`;

export function versionLine(): string {
  return `apt-ostree ${version} (commit ${commit}, ${target})`;
}
