#!/usr/bin/env bash
# Linker driver for the native addon (cargo's `linker` for the x86_64 and aarch64 Linux targets): the
# system C compiler of the target, pointed at a Debian 11 sysroot (scripts/sysroot.sh) so that every glibc
# symbol binds to a version Debian 11 (glibc 2.31) has. Used as
#   CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=scripts/link-glibc-floor.sh
#   CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=scripts/link-glibc-floor.sh
# It finds the target in rustc's arguments (the path of the target's libstd), or in
# APT_OSTREE_LINK_ARCH=amd64|arm64.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

arch=${APT_OSTREE_LINK_ARCH:-}
if [ -z "$arch" ]; then
  case "$*" in
    *aarch64-unknown-linux-gnu*) arch=arm64 ;;
    *) arch=amd64 ;;
  esac
fi
case "$arch" in
  amd64) cc=${APT_OSTREE_LINK_CC:-cc} triplet=x86_64-linux-gnu ;;
  arm64) cc=${APT_OSTREE_LINK_CC:-aarch64-linux-gnu-gcc} triplet=aarch64-linux-gnu ;;
  *) echo "link-glibc-floor: unknown architecture $arch" >&2; exit 2 ;;
esac
sysroot=$(bash "$here/sysroot.sh" "$arch")
# gcc's own multiarch library directories (/usr/lib/<triplet>, /usr/<triplet>/lib) are searched before the
# sysroot's: put the sysroot's first with -B/-L.
exec "$cc" "$@" --sysroot="$sysroot" -B"$sysroot/usr/lib/$triplet" \
  -L"$sysroot/usr/lib/$triplet" -L"$sysroot/lib/$triplet"
