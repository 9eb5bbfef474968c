#!/usr/bin/env bash
# `npm run test:release`: the release proof, slow (it boots an emulated arm64 machine and makes Debian
# chroots; see the timings it prints). Sets up the cross toolchain (scripts/setup-release.sh), builds
# both targets and both .debs (scripts/build.sh --target all), then runs test/release-*.test.ts:
#   artifacts  ELF machines, embedded addons, glibc floor, --version, .deb fields and contents
#   chroot     amd64 exports on Debian 11 and 13 = host digests (1/2/default threads); apt install of
#              the .deb on Debian 12 and 11
#   arm64      in a qemu-system-aarch64 VM: --version, exports = amd64 digests (1/2/default threads),
#              the native crate's tests built for arm64, dpkg -i of the arm64 .deb
#   source     the native crate built from `cargo vendor`ed crates with an empty CARGO_HOME
# Caches (Debian 11 sysroots in .cache/, chroot tarballs and the VM image in /var/cache/apt-ostree-tests)
# make later runs faster. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
# Runs a step and records its time; returns the step's status (set -e does not apply inside a
# function called with ||, so the status is passed on explicitly).
step() {
  local name=$1
  shift
  local t=$SECONDS rc=0
  "$@" || rc=$?
  timings+=("$(printf '%-28s %4d s' "$name" $((SECONDS - t)))")
  return $rc
}
timings=()

step setup bash scripts/setup.sh
step setup-release bash scripts/setup-release.sh
step "build --target all" bash scripts/build.sh --target all
status=0
mkdir -p .cache/test-results
step "release tests" env APT_OSTREE_RELEASE_TESTS=1 ./node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile.json=.cache/test-results/vitest-release.json test/release-artifacts.test.ts \
  test/release-chroot.test.ts test/release-arm64.test.ts test/release-source.test.ts "$@" || status=$?
echo "test:release timings:" >&2
printf '  %s\n' "${timings[@]}" >&2
printf '  %-28s %4d s\n' total $((SECONDS - started)) >&2
exit $status
