#!/usr/bin/env bash
# Usage: scripts/package-deb.sh [--arch amd64|arm64|all] (default amd64)
# Debian packages dist/apt-ostree_VERSION_ARCH.deb from the built binaries (scripts/build.sh): the binary
# in /usr/bin, the man page, bash and zsh completions (packaging/), the copyright file. Built with
# dpkg-deb --root-owner-group from a staged tree: no debhelper. The binary is never stripped (that would
# cut off the application bun appended to it). File times are clamped to SOURCE_DATE_EPOCH (default: the
# commit's time), so the same binary gives the same package.
set -euo pipefail
cd "$(dirname "$0")/.."

arches=amd64
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arches=${2:?--arch needs amd64, arm64 or all}; shift 2 ;;
    --arch=*) arches=${1#--arch=}; shift ;;
    *) echo "package-deb: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$arches" = all ] && arches="amd64 arm64"

version=$(node -p 'require("./package.json").version')
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

for arch in $arches; do
  case "$arch" in
    amd64) bin=dist/apt-ostree-linux-x64 target=x64 ;;
    arm64) bin=dist/apt-ostree-linux-arm64 target=arm64 ;;
    *) echo "package-deb: unknown architecture $arch" >&2; exit 2 ;;
  esac
  [ -x "$bin" ] || { echo "package-deb: $bin missing: run scripts/build.sh --target $target" >&2; exit 1; }
  bash scripts/check-elf.sh "$target" "$bin"

  stage=$(mktemp -d "${TMPDIR:-/tmp}/apt-ostree-deb.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  install -D -m 0755 "$bin" "$stage/usr/bin/apt-ostree"
  install -d -m 0755 "$stage/usr/share/man/man1" "$stage/usr/share/doc/apt-ostree"
  gzip -9n <packaging/apt-ostree.1 >"$stage/usr/share/man/man1/apt-ostree.1.gz"
  chmod 0644 "$stage/usr/share/man/man1/apt-ostree.1.gz"
  install -D -m 0644 packaging/completions/apt-ostree.bash "$stage/usr/share/bash-completion/completions/apt-ostree"
  install -D -m 0644 packaging/completions/_apt-ostree "$stage/usr/share/zsh/vendor-completions/_apt-ostree"
  install -m 0644 packaging/copyright "$stage/usr/share/doc/apt-ostree/copyright"
  # Debian policy 12.7: a native package carries changelog.gz (one entry: this build's commit).
  {
    printf 'apt-ostree (%s) unstable; urgency=medium\n\n' "$version"
    printf '  * Built from commit %s.\n\n' "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
    printf ' -- apt-ostree maintainers <maintainers@apt-ostree.invalid>  %s\n' "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
  } | gzip -9n >"$stage/usr/share/doc/apt-ostree/changelog.gz"
  chmod 0644 "$stage/usr/share/doc/apt-ostree/changelog.gz"
  install -d -m 0755 "$stage/DEBIAN"
  size=$(du -sk --apparent-size --exclude=DEBIAN "$stage" | cut -f1)
  sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$size/" packaging/control.in >"$stage/DEBIAN/control"
  (cd "$stage" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
  chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
  find "$stage" -type d -exec chmod 0755 {} +

  out=dist/apt-ostree_${version}_$arch.deb
  # xz (~60 s per package on one core; APT_OSTREE_DEB_COMPRESSION=gzip: ~10 s, 30% larger): what every
  # supported dpkg reads (Debian 11's dpkg has no zstd).
  dpkg-deb --root-owner-group -Z"${APT_OSTREE_DEB_COMPRESSION:-xz}" --threads-max="$(nproc)" --build "$stage" "$out.tmp" >/dev/null
  mv "$out.tmp" "$out"
  rm -rf "$stage"
  trap - EXIT
  echo "built $out" >&2
done
