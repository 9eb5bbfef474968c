#!/usr/bin/env bash
# What the release build and its tests need on top of scripts/setup.sh, on Debian 12 as root: the arm64
# cross toolchain (Debian's rustc-web/cargo-web with the arm64 standard library, the aarch64 cross
# compiler), qemu for arm64 (qemu-user for plain programs, qemu-system for the Bun binary), the Debian 11
# sysroots the addons link against, and the binfmt registration mmdebstrap --arch=arm64 relies on.
# Idempotent and quick when everything is there. Called by scripts/test-release.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup-release: run as root (installs Debian packages, registers binfmt handlers)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -qq --no-install-recommends -o DPkg::Lock::Timeout=600)

packages=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  binutils binutils-aarch64-linux-gnu qemu-system-arm qemu-user-static binfmt-support mmdebstrap
  dpkg-dev cpio ca-certificates file perl zsh man-db)
updated=
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "setup-release: adding the arm64 architecture" >&2
  dpkg --add-architecture arm64
  apt-get update -qq
  updated=1
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-release: installing ${missing[*]}" >&2
  [ -n "$updated" ] || apt-get update -qq
  apt-get install "${apt_opts[@]}" "${missing[@]}" >/dev/null
fi

# Containers often start without binfmt_misc mounted: mmdebstrap --arch=arm64 and the arm64 Rust tests
# run arm64 programs through qemu-aarch64-static.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
    echo "setup-release: cannot mount binfmt_misc; arm64 programs will not run transparently" >&2
fi
if [ -e /proc/sys/fs/binfmt_misc/register ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi

bash scripts/sysroot.sh amd64 >/dev/null
bash scripts/sysroot.sh arm64 >/dev/null
