#!/usr/bin/env bash
# Runs the whole test suite as CI does: host prerequisites, dependencies, type check, build, lint
# (with the architecture's import boundaries) and format check, then unit and end-to-end tests
# (real sbxd, real crun sandboxes). Ends with "N passed, N failed"; each failed check counts as one.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test: the end-to-end tests mount filesystems and create cgroups: run as root (sudo $0)" >&2
  exit 1
fi

./scripts/setup-host.sh --with-test-tools || exit 1
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund || exit 1
fi

mkdir -p .tmp
report=.tmp/vitest-report.json
rm -f "$report"
typecheck=0
npx tsc -p tsconfig.json --noEmit || typecheck=1
# The compiled packages too: the e2e global setup and the packaging test load them.
npm run --silent build || typecheck=$((typecheck + 1))
npx eslint . || typecheck=$((typecheck + 1))
npx prettier --check . >/dev/null || { npx prettier --list-different . ; typecheck=$((typecheck + 1)); }
# The Python SDK (python/): strict types; its pytest suite runs inside the e2e run (test/python-sdk.e2e.test.ts).
mypy --strict --cache-dir .tmp/mypy python/src/sbx_sdk || typecheck=$((typecheck + 1))
black --check -q --line-length 120 python packages/cli/python/load_image.py || typecheck=$((typecheck + 1))
npx vitest run --reporter=default --reporter=json --outputFile="$report" "$@"
status=$?

node -e '
const fs = require("node:fs");
const [file, typecheck] = process.argv.slice(1);
let passed = 0, failed = Number(typecheck), skipped = 0;
if (fs.existsSync(file)) {
  const r = JSON.parse(fs.readFileSync(file, "utf8"));
  passed = r.numPassedTests; failed += r.numFailedTests; skipped = r.numPendingTests + r.numTodoTests;
  if (r.numTotalTests === 0) failed += 1;
} else failed += 1;
if (Number(typecheck)) console.log(`${typecheck} of type check, build, lint and format check failed (one failure each)`);
// The last line is always exactly "N passed, N failed"; skipped tests are said on a line before it.
if (skipped) console.log(`${skipped} skipped`);
console.log(`${passed} passed, ${failed} failed`);
' "$report" "$typecheck"

[ "$status" -eq 0 ] && [ "$typecheck" -eq 0 ]
