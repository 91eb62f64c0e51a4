#!/usr/bin/env bash
# One command from a fresh Debian 12/13 machine to a running sandbox: host packages and fixes,
# npm dependencies, the build, `sbx`/`sbxd` on PATH, the daemon, the debian-minimal base image,
# and a real sandbox that runs a command. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: sbx runs sandboxes with mounts, cgroups and namespaces: run as root (sudo $0)" >&2
  exit 1
fi

step "host prerequisites"
./scripts/setup-host.sh

step "npm dependencies"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  echo "node_modules is up to date"
fi

step "build"
npm run --silent build
ln -sf "$repo/packages/cli/bin/sbx.js" /usr/local/bin/sbx
ln -sf "$repo/packages/daemon/bin/sbxd.js" /usr/local/bin/sbxd
echo "installed /usr/local/bin/sbx and /usr/local/bin/sbxd"

step "host check"
sbx doctor

step "daemon"
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  # A service: restarted on failure, started at boot, logged to the journal and /var/log/sbx.
  install -m 0644 scripts/sbxd.service /etc/systemd/system/sbxd.service
  systemctl daemon-reload
  systemctl enable sbxd.service >/dev/null
  echo "installed the sbxd systemd unit (journalctl -u sbxd)"
else
  echo "systemd is not PID 1 here: sbxd runs in the background (started again by any sbx command)"
fi
if sbx daemon status >/dev/null 2>&1; then
  # A daemon from an older build keeps serving old code: restart it (sandboxes keep running).
  sbx daemon stop
fi
sbx daemon start

step "first sandbox (builds the debian-minimal base image on first use: about a minute)"
sbx run -- sh -c 'echo "hello from sandbox $(hostname): $(. /etc/os-release; echo $PRETTY_NAME), uid $(id -u) inside"'

cat <<'DONE'

sbx is ready. Try:
  id=$(sbx new)                               # a sandbox from debian-minimal
  sbx exec "$id" -- sh -c 'echo hello; exit 3' # prints hello, exits 3
  sbx cp ./some-dir "$id":/work                # copy files in (and out: sbx cp "$id":/work ./out)
  sbx ls; sbx info "$id"; sbx rm "$id"
DONE
