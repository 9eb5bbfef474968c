#!/usr/bin/env bash
# `npm run bench`: speed and memory of the export (and registry push/pull), side by side with the
# peers, in one run. Prints ratios; see scripts/bench.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
npm run build >/dev/null
exec ./node_modules/.bin/bun scripts/bench.ts "$@"
