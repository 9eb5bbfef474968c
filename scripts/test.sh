#!/usr/bin/env bash
# `npm test`: set up (packages, toolchain), build, then every test: Rust unit tests of the native
# core, TypeScript unit tests, and end-to-end tests of the compiled binary against real tools.
# Results also go to .cache/test-results/ for the closing tally (scripts/tally.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
npm run build
results=.cache/test-results
rm -rf "$results" && mkdir -p "$results"
(cd native && CARGO_BUILD_JOBS=2 cargo test --release --no-default-features 2>&1) | tee "$results/cargo.log" | grep -E "^test result|^error|panicked|FAILED"
./node_modules/.bin/tsc --noEmit
./node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile.json="$results/vitest.json" "$@"
bash scripts/tally.sh
