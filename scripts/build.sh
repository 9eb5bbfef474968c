#!/usr/bin/env bash
# `npm run build [-- --target x64|arm64|all]` (default x64): the native addon for each target, checked
# (ELF machine, glibc floor 2.31: scripts/check-elf.sh), then the single binary dist/apt-ostree-linux-<target>
# with that addon embedded (bun build --compile), then a check that the binary carries exactly that addon.
# The embedded addons are kept as dist/addon-linux-<target>.node.
#   x64:   scripts/build-native.sh -> native/dist/addon.node
#   arm64: scripts/build-native-arm64.sh -> native/dist/addon-aarch64-unknown-linux-gnu.node (cross-built;
#          needs scripts/setup-release.sh), compiled from a staged copy of src/ whose
#          native/dist/addon.node is the arm64 addon, so the working tree's x64 addon is never swapped out.
# Both addons link against Debian 11's glibc (scripts/link-glibc-floor.sh).
# With an explicit --target, the Debian packages dist/apt-ostree_VERSION_ARCH.deb too (scripts/package-deb.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=x64
debs=
while [ $# -gt 0 ]; do
  case "$1" in
    --target) targets=${2:?--target needs x64, arm64 or all}; debs=1; shift 2 ;;
    --target=*) targets=${1#--target=}; debs=1; shift ;;
    *) echo "build: unknown argument $1 (usage: build.sh [--target x64|arm64|all])" >&2; exit 2 ;;
  esac
done
case "$targets" in
  x64 | arm64) ;;
  all) targets="x64 arm64" ;;
  *) echo "build: unknown target $targets (x64, arm64 or all)" >&2; exit 2 ;;
esac

version=$(node -p 'require("./package.json").version')
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# Built from changes not committed: HEAD alone does not say what is in the binary.
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit-dirty"
fi
mkdir -p dist

# Fails unless the compiled binary contains the addon file byte for byte (bun embeds .node files as they
# are); together with check-elf on the addon this proves which architecture's addon the binary carries.
check_embedded() {
  local bin=$1 addon=$2
  perl -e '
    local $/; open(my $b, "<:raw", $ARGV[0]) or die "$ARGV[0]: $!"; my $bin = <$b>;
    open(my $a, "<:raw", $ARGV[1]) or die "$ARGV[1]: $!"; my $addon = <$a>;
    my $at = index($bin, $addon);
    die "build: $ARGV[0] does not embed $ARGV[1]\n" if $at < 0;
    print STDERR "build: $ARGV[0] embeds $ARGV[1] at offset $at\n";
  ' "$bin" "$addon"
}

compile() {
  local entry=$1 bun_target=$2 name=$3
  local out=dist/apt-ostree-$name
  ./node_modules/.bin/bun build --compile --target="$bun_target" "$entry" \
    --define "APT_OSTREE_VERSION=\"$version\"" \
    --define "APT_OSTREE_COMMIT=\"$commit\"" \
    --define "APT_OSTREE_TARGET=\"$name\"" \
    --outfile "$out.tmp" >/dev/null
  mv "$out.tmp" "$out"
}

for target in $targets; do
  case "$target" in
    x64)
      # Link against Debian 11's glibc unless the caller chose a linker.
      CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=${CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER:-$PWD/scripts/link-glibc-floor.sh} \
        bash scripts/build-native.sh
      bash scripts/check-elf.sh x64 native/dist/addon.node
      compile src/bin.ts bun-linux-x64 linux-x64
      check_embedded dist/apt-ostree-linux-x64 native/dist/addon.node
      # What was embedded, for the release tests (native/dist changes with every native build).
      cp native/dist/addon.node dist/addon-linux-x64.node
      ;;
    arm64)
      bash scripts/build-native-arm64.sh
      addon=native/dist/addon-aarch64-unknown-linux-gnu.node
      bash scripts/check-elf.sh arm64 "$addon"
      stage=.cache/stage-arm64
      rm -rf "$stage"
      mkdir -p "$stage/native/dist"
      cp -r src "$stage/src"
      cp package.json tsconfig.json "$stage/"
      cp "$addon" "$stage/native/dist/addon.node"
      cp "$addon" "$stage/native/dist/addon.napi"
      # Modules resolve from the repository's node_modules (the stage lives under it).
      compile "$stage/src/bin.ts" bun-linux-arm64 linux-arm64
      check_embedded dist/apt-ostree-linux-arm64 "$addon"
      cp "$addon" dist/addon-linux-arm64.node
      rm -rf "$stage"
      ;;
  esac
  bash scripts/check-elf.sh "$target" "dist/apt-ostree-linux-$target"
  echo "built dist/apt-ostree-linux-$target" >&2
  if [ -n "$debs" ]; then
    bash scripts/package-deb.sh --arch "$([ "$target" = x64 ] && echo amd64 || echo arm64)"
  fi
done
