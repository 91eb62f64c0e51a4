#!/usr/bin/env bash
# Prepares a Debian 12/13 host for sbx: the packages the daemon shells out to, the cgroup fix for
# hybrid v1/v2 hosts, and checks for overlayfs and user namespaces. Idempotent: run it any time.
set -euo pipefail

# catatonit (static) is every sandbox's PID 1; busybox-static runs the daemon's in-sandbox file operations.
PACKAGES=(crun runc mmdebstrap uidmap iproute2 nftables zstd catatonit busybox-static e2fsprogs ca-certificates)
# npm ci compiles better-sqlite3 and node-pty from source (their prebuilt binaries live off the npm registry).
PACKAGES+=(g++ make python3)
# attr (setfattr) marks opaque dirs of imported OCI layers.
PACKAGES+=(attr)
# musl-tools (musl-gcc) builds sbx-agent, the static PID 1 of every sandbox (npm run build).
PACKAGES+=(musl-tools)
# libdeflate-dev builds sbx-deflate, the gzip of OCI layer exports (npm run build; without it, zlib).
PACKAGES+=(libdeflate-dev)
# gcc + libc6-dev compile sbx-idmap and sbx-userns, the helpers for per-sandbox uid ranges (native/).
PACKAGES+=(gcc libc6-dev)
# --with-test-tools (scripts/test.sh): the adversarial suites compile a static attacker program.
for arg in "$@"; do
  case "$arg" in
    --with-test-tools) PACKAGES+=(gcc libc6-dev skopeo umoci pigz docker-registry openssl apache2-utils chromium) # + OCI tools that check and serve images (pigz: the export baseline of npm run bench); openssl makes TLS test certificates; apache2-utils' htpasswd the test registry's bcrypt logins; chromium drives the dashboard tests
      PACKAGES+=(python3-pytest mypy black python3-venv python3-pip python3-setuptools python3-wheel) ;; # the Python SDK: tests, type and format checks, offline install
    *) echo "setup-host: unknown option $arg (known: --with-test-tools)" >&2; exit 2 ;;
  esac
done
# The PostgreSQL store's tests start a throwaway server of their own from this package's binaries.
if [[ " $* " == *" --with-test-tools "* ]]; then PACKAGES+=(postgresql); fi
# The cluster tests run each node daemon in its own network namespace (ip netns, nsenter --net).
if [[ " $* " == *" --with-test-tools "* ]]; then PACKAGES+=(util-linux); fi
OPTIONAL=(ubuntu-keyring) # lets sbx build the ubuntu-* bases; not in every Debian release
export DEBIAN_FRONTEND=noninteractive

did=()
warn=()
say() { printf 'setup-host: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host: must run as root (try: sudo $0)" >&2
  exit 1
fi

codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-unknown}")
say "host: $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}"), kernel $(uname -r)"
case "$codename" in
  bookworm | trixie) ;;
  *) say "note: untested distribution '$codename' (sbx is tested on Debian 12 bookworm and 13 trixie)" ;;
esac

# --- packages ---------------------------------------------------------------------------------
# Output is captured before matching: with pipefail, `cmd | grep -q` fails when grep exits early (SIGPIPE).
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]; }
has_candidate() {
  local policy
  policy=$(apt-cache policy "$1" 2>/dev/null || true)
  [[ "$policy" =~ Candidate:\ [^\(] ]]
}
lists_present() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
optional_missing=()
for p in "${OPTIONAL[@]}"; do installed "$p" || optional_missing+=("$p"); done

updated=no
apt_update() {
  say "apt-get update"
  apt-get update -qq
  updated=yes
  did+=("apt-get update")
}

if [ ${#missing[@]} -gt 0 ]; then
  # Update only when the package lists cannot satisfy the install as they are.
  need_update=no
  lists_present || need_update=yes
  for p in "${missing[@]}"; do has_candidate "$p" || need_update=yes; done
  [ "$need_update" = yes ] && apt_update
fi

to_install=("${missing[@]}")
for p in "${optional_missing[@]}"; do
  if has_candidate "$p"; then
    to_install+=("$p")
  else
    say "optional $p is not in this release's archive: the ubuntu-* base images will be unavailable"
  fi
done

if [ ${#to_install[@]} -gt 0 ]; then
  say "installing: ${to_install[*]}"
  # Lists that are present but stale point at superseded .debs (404): refresh once and retry.
  if ! apt-get install -y -qq --no-install-recommends "${to_install[@]}"; then
    [ "$updated" = yes ] && exit 1
    apt_update
    apt-get install -y -qq --no-install-recommends "${to_install[@]}"
  fi
  did+=("installed ${to_install[*]}")
  # docker-registry is for the tests, which start their own on a free loopback port: the
  # package's service (all interfaces, port 5000) is not left running on the host.
  if [[ " ${to_install[*]} " == *" docker-registry "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
  # Likewise PostgreSQL's default cluster: the tests initdb their own in a temp dir.
  if [[ " ${to_install[*]} " == *" postgresql "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now postgresql >/dev/null 2>&1 || true
  fi
else
  say "packages: all present"
fi

# --- cgroups: hybrid v1/v2 hosts ----------------------------------------------------------------
# crun refuses to start ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2")
# while any controller is attached to the cgroup2 mount; mounting it as a v1 hierarchy moves it.
# cgroup files report size 0, so read their content instead of testing with [ -s ].
v1_mounted() { awk -v c="$1" '$3 == "cgroup" { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) f = 1 } END { exit !f }' /proc/self/mounts; }

if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
  say "cgroups: v2 (unified), nothing to fix"
elif [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
  controllers=$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true)
  if [ -z "$controllers" ]; then
    say "cgroups: v1 hybrid, cgroup2 mount has no controllers: ok"
  fi
  for c in $controllers; do
    v1_mounted "$c" && continue
    dir=/sys/fs/cgroup/$c
    if [ ! -d "$dir" ] && ! mkdir -p "$dir" 2>/dev/null; then
      # systemd may mount the /sys/fs/cgroup tmpfs read-only; open it just long enough for mkdir.
      mount -o remount,rw /sys/fs/cgroup && mkdir -p "$dir" && mount -o remount,ro /sys/fs/cgroup || true
    fi
    if mount -t cgroup -o "$c" cgroup "$dir" 2>/dev/null; then
      say "cgroups: moved $c off the cgroup2 mount (mounted at $dir)"
      did+=("mounted the $c cgroup v1 hierarchy at $dir (not persistent: re-run after reboot)")
    else
      warn+=("could not mount the $c controller as cgroup v1 at $dir: crun will refuse to start")
    fi
  done
else
  say "cgroups: v1"
fi

# --- kernel features ------------------------------------------------------------------------------
if ! grep -qw overlay /proc/filesystems; then
  command -v modprobe >/dev/null && modprobe overlay 2>/dev/null && did+=("loaded the overlay module") || true
fi
if grep -qw overlay /proc/filesystems; then
  say "overlayfs: available"
else
  warn+=("overlayfs is not available: sbx needs a kernel with CONFIG_OVERLAY_FS")
fi

max_userns=$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)
if [ "${max_userns:-0}" -gt 0 ]; then
  say "user namespaces: available (max_user_namespaces=$max_userns)"
else
  warn+=("user namespaces are disabled: sysctl -w user.max_user_namespaces=15000 and persist it in /etc/sysctl.d")
fi

# --- sbx-idmap, sbx-userns: idmapped layer mounts and per-sandbox user namespaces -------------------
# sbx-idmap mounts layers into each sandbox's uid range; sbx-userns makes each sandbox's user namespace
# owned by its own base uid (per-sandbox kernel budgets). Rebuilt when their source (or helper-common.h) is newer;
# SBX_IDMAP_HELPER (sbxd) points elsewhere if installed elsewhere (sbx-userns is looked up beside it).
for helper in sbx-idmap sbx-userns; do
  helper_src="$(cd "$(dirname "$0")/.." && pwd)/packages/daemon/native/$helper.c"
  helper_bin=/usr/local/libexec/sbx/$helper
  helper_h="$(dirname "$helper_src")/helper-common.h"
  if [ -f "$helper_src" ] && { [ ! -x "$helper_bin" ] || [ "$helper_src" -nt "$helper_bin" ] || [ "$helper_h" -nt "$helper_bin" ]; }; then
    mkdir -p "$(dirname "$helper_bin")"
    if gcc -static -O2 -Wall -o "$helper_bin.tmp" "$helper_src" && mv "$helper_bin.tmp" "$helper_bin"; then
      did+=("compiled $helper_bin")
    else
      warn+=("could not compile $helper_bin: sandboxes cannot start without it")
    fi
  fi
done

# --- summary ------------------------------------------------------------------------------------
if [ ${#did[@]} -eq 0 ]; then
  say "done: nothing to change"
else
  for d in "${did[@]}"; do say "did: $d"; done
fi
for w in "${warn[@]}"; do echo "setup-host: WARNING: $w" >&2; done
[ ${#warn[@]} -eq 0 ]
