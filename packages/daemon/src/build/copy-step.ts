// copy()/add() inside the build sandbox, with Docker's COPY semantics. The step's context tar is
// unpacked under /.sbx/ctx (never part of a layer) and this busybox script places its sources;
// archives for add() are unpacked there too, so no entry can reach beyond the sandbox.
import { posix } from "node:path";
import type { CopySource } from "@sbx-sh/protocol";
import { HELPER_DIR } from "../runtime/runtime.js";

/** In the runtime's helper dir: a scratch tmpfs that never becomes part of a layer. */
export const CONTEXT_DIR = `${HELPER_DIR}/ctx`;

// Arguments: dest, dir (1 when dest is a directory by the rules), owner, mode, then one
// "index:type:extract:name" per source. Paths arrive as arguments, never spliced into the script.
export const COPY_SCRIPT = `set -e
dest=$1; dirdest=$2; owner=$3; mode=$4; shift 4
ctx=${CONTEXT_DIR}
[ -d "$dest" ] && dirdest=1
fix() { [ -n "$owner" ] && chown -R -h "$owner" "$1"; [ -n "$mode" ] && chmod -R "$mode" "$1"; true; }
for s in "$@"; do
  i=\${s%%:*}; r=\${s#*:}; type=\${r%%:*}; r=\${r#*:}; extract=\${r%%:*}; name=\${r#*:}
  src="$ctx/$i/$name"
  if [ "$extract" = 1 ]; then
    mkdir -p "$dest"
    case "$name" in *.gz|*.tgz) z=z;; *.bz2) z=j;; *.xz) z=J;; *) z=;; esac
    tar -t\${z}f "$src" | sed -e 's,^\\./,,' -e 's,/.*,,' | sort -u | grep -v '^$' > "$ctx/.top"
    tar -x\${z}of "$src" -C "$dest"
    while read -r top; do fix "$dest/$top"; done < "$ctx/.top"
  elif [ "$type" = dir ]; then
    mkdir -p "$dest"
    for e in "$src"/* "$src"/.[!.]* "$src"/..?*; do
      [ -e "$e" ] || [ -L "$e" ] || continue
      cp -a "$e" "$dest/"
      fix "$dest/\${e##*/}"
    done
  elif [ "$dirdest" = 1 ]; then
    mkdir -p "$dest"
    cp -a "$src" "$dest/"
    fix "$dest/$name"
  else
    mkdir -p "$(dirname "$dest")"
    cp -a "$src" "$dest"
    fix "$dest"
  fi
done
rm -rf "$ctx"
`;

export function copyArgs(
  step: { sources: CopySource[]; dest: string; chown?: string; chmod?: string },
  workdir: string,
): string[] {
  const dest = posix.resolve(workdir, step.dest);
  const dirDest = step.dest.endsWith("/") || step.dest === "." || step.sources.length > 1;
  const sources = step.sources.map((s, i) => `${i}:${s.type}:${s.extract ? 1 : 0}:${s.name}`);
  return [dest, dirDest ? "1" : "0", step.chown ?? "", step.chmod ?? "", ...sources];
}
