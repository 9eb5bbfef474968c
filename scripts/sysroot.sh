#!/usr/bin/env bash
# Usage: scripts/sysroot.sh amd64|arm64 — prints the path of a Debian 11 (bullseye, glibc 2.31) sysroot for
# that architecture, creating it on first use (mmdebstrap --variant=extract, no emulation, ~10 s, ~110 MB).
# The native addon links against it (scripts/link-glibc-floor.sh) so that it needs no glibc symbol newer
# than 2.31: linking against the build host's glibc (bookworm, 2.36) binds pthread_*/dlsym to GLIBC_2.34
# and stat64/fstat64 to GLIBC_2.33, which Debian 11 and Ubuntu 20.04 do not have.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${1:?usage: scripts/sysroot.sh amd64|arm64}
case "$arch" in amd64 | arm64) ;; *) echo "sysroot: unknown architecture $arch" >&2; exit 2 ;; esac
base=${APT_OSTREE_SYSROOT_DIR:-$PWD/.cache/sysroot}
dir=$base/bullseye-$arch
if [ -e "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi
mkdir -p "$base"
# cargo links several build scripts at once, and each link may be the first: one creates, the others wait.
exec 9>"$base/.lock-$arch"
flock 9
if [ -e "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi
rm -rf "$dir.tmp"
echo "sysroot: creating $dir (Debian 11 libc6-dev)" >&2
# Only the main archive: the build hosts reach deb.debian.org but not security.debian.org.
mmdebstrap --quiet --variant=extract --arch="$arch" --include=libc6-dev,libgcc-s1 \
  bullseye "$dir.tmp" "deb http://deb.debian.org/debian bullseye main" >&2
# Absolute symlinks (lib64/ld-linux-x86-64.so.2 -> /lib/...) would resolve on the build host: make them
# relative so that they stay inside the sysroot.
find "$dir.tmp" -type l -lname '/*' | while read -r link; do
  ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$dir.tmp$(readlink "$link")")" "$link"
done
touch "$dir.tmp/.complete"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "$dir"
