#!/usr/bin/env bash
# `npm test`: set up (packages, toolchain), build, then every test: Rust unit tests of the native
# core, TypeScript unit tests, and end-to-end tests of the compiled binary against real tools.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
npm run build
(cd native && CARGO_BUILD_JOBS=2 cargo test --release --no-default-features 2>&1 | tail -n 30)
./node_modules/.bin/tsc --noEmit
./node_modules/.bin/vitest run "$@"
