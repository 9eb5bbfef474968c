#!/usr/bin/env bash
# Cross-builds the native addon for arm64 into native/dist/addon-aarch64-unknown-linux-gnu.node, with
# Debian's rustc-web/cargo-web (/usr/bin/rustc, /usr/bin/cargo: rustup's toolchain here is x86_64 only),
# the arm64 standard library (libstd-rust-web-dev:arm64) and the aarch64 cross compiler, linked against
# Debian 11's glibc (scripts/link-glibc-floor.sh). Needs scripts/setup-release.sh.
#   --tests DIR   instead: build the crate's Rust tests (--no-default-features, as scripts/test.sh) for
#                 arm64 and copy the test executables into DIR, to be run on an arm64 system (the tests
#                 run them in the qemu-system VM: qemu-user 7.2 hangs in pthread_create on this kernel).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=build
if [ "${1:-}" = --tests ]; then
  mode=tests
  tests_dir=${2:?--tests needs a directory}
fi
target=aarch64-unknown-linux-gnu
for tool in /usr/bin/cargo /usr/bin/rustc aarch64-linux-gnu-gcc; do
  command -v "$tool" >/dev/null || { echo "build-native-arm64: $tool missing: run scripts/setup-release.sh" >&2; exit 1; }
done
[ -d /usr/lib/rustlib/$target ] || { echo "build-native-arm64: libstd-rust-web-dev:arm64 missing: run scripts/setup-release.sh" >&2; exit 1; }

bash scripts/sysroot.sh arm64 >/dev/null
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
# Its own target directory: Debian's rustc must not share build outputs with rustup's (native/target).
export CARGO_TARGET_DIR=$PWD/native/target/cross
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=$PWD/scripts/link-glibc-floor.sh
export APT_OSTREE_LINK_ARCH=arm64
# C dependencies (zstd-sys, libdeflate-sys) through the cc crate.
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export PKG_CONFIG_ALLOW_CROSS=1

if [ $mode = tests ]; then
  mkdir -p "$tests_dir"
  (cd native && /usr/bin/cargo test --release --no-default-features --target $target --no-run --message-format=json) |
    node -e '
      const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
      for (const m of lines) if (m.reason === "compiler-artifact" && m.profile && m.profile.test && m.executable) console.log(m.executable);
    ' | while read -r exe; do cp "$exe" "$tests_dir/"; echo "test executable $(basename "$exe")" >&2; done
  exit 0
fi

(cd native && /usr/bin/cargo build --release --lib --target $target)
mkdir -p native/dist
out=native/dist/addon-$target.node
cp native/target/cross/$target/release/libapt_ostree_native.so "$out.tmp"
mv "$out.tmp" "$out"
bash scripts/check-elf.sh arm64 "$out"
echo "built $out" >&2
