#!/usr/bin/env bash
# Prints one closing line, `tests: N passed, M failed`, over the results that scripts/test.sh and
# scripts/test-release.sh left in .cache/test-results/ (vitest JSON reports and cargo test logs).
set -euo pipefail
cd "$(dirname "$0")/.."
node -e '
const fs = require("fs"), path = require("path");
const dir = ".cache/test-results";
let passed = 0, failed = 0;
for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
  const text = fs.readFileSync(path.join(dir, name), "utf8");
  if (name.endsWith(".json")) {
    const r = JSON.parse(text);
    passed += r.numPassedTests; failed += r.numFailedTests;
  } else {
    for (const m of text.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) { passed += +m[1]; failed += +m[2]; }
  }
}
console.log(`tests: ${passed} passed, ${failed} failed`);
'
