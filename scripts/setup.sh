#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need on a fresh Debian 12 machine (as root):
# Debian packages, a Rust toolchain (Debian's rustc-web when none is present), npm packages.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the product calls (ostree, mmdebstrap), the real consumers the tests check against
# (skopeo, umoci, oci-image-tool), the registry server and htpasswd for registry tests, pigz for
# the benchmark, qemu-user for foreign-architecture composes, zsh and man-db to check the completion and
# the man page.
packages=(ostree mmdebstrap skopeo umoci oci-image-tool docker-registry apache2-utils pigz zstd
  qemu-user-static binfmt-support arch-test ca-certificates git xz-utils file binutils curl time python3 util-linux
  zsh man-db)
if ! command -v cargo >/dev/null 2>&1; then
  # rustup is not reachable from the build hosts; Debian's rustc-web is recent enough for napi-rs 3.
  packages+=(rustc-web cargo-web)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
