#!/usr/bin/env bash
# Builds and packs the four packages into installable tarballs (default: .tmp/pack/), the way they
# would be published. A project of yours can then install the SDK without this checkout:
#   npm install /path/to/sbx-sh-protocol-0.1.0.tgz /path/to/sbx-sh-sdk-0.1.0.tgz
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-.tmp/pack}")
mkdir -p "$out"
npm pack --workspaces --pack-destination "$out" --silent >/dev/null
ls -1 "$out"/sbx-sh-*.tgz
