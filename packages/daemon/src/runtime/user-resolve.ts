// Turns the user a process should run as (`root`, `uid`, `uid:gid`, `name`, `name:group`) into the
// numeric `uid:gid` crun needs. Names are looked up in the sandbox's own /etc/passwd and /etc/group,
// by the helper busybox inside it, so an image's users mean what the image says.
import { SbxError } from "@sbx-sh/protocol";
import type { Crun } from "./crun.js";
import { HELPER_BUSYBOX } from "./types.js";

const SCRIPT = [
  'case "$1" in *[!0-9]*) u=$(id -u -- "$1") || exit 1;; *) u=$1;; esac',
  'if [ -z "$2" ]; then g=$(id -g -- "$1" 2>/dev/null || echo 0)',
  'else case "$2" in *[!0-9]*) g=$(grep "^$2:" /etc/group | cut -d: -f3);; *) g=$2;; esac; fi',
  '[ -n "$g" ] && echo "$u:$g"',
].join("\n");

/** The numeric form without asking the sandbox, or undefined when a name must be looked up. */
export function numericUser(user: string): string | undefined {
  if (user === "root") return "0:0";
  const [u, g] = splitUser(user);
  if (/^\d+$/.test(u) && (g === undefined || /^\d+$/.test(g))) return g === undefined ? `${u}:0` : `${u}:${g}`;
  return undefined;
}

export function splitUser(user: string): [string, string | undefined] {
  const m = /^([^:]+)(?::(.+))?$/.exec(user);
  if (!m)
    throw new SbxError("invalid_argument", `invalid user ${JSON.stringify(user)}: use root, uid, uid:gid or a name`);
  return [m[1]!, m[2]];
}

export function unknownUser(user: string): SbxError {
  return new SbxError(
    "invalid_argument",
    `user ${JSON.stringify(user)} does not exist in the sandbox: create it first (useradd) or use a numeric uid`,
  );
}

/** Runs a helper command as the sandbox's root (crun exec, or its agent) and answers its exit code and stdout. */
export type RootExec = (argv: string[]) => Promise<{ code: number; stdout: Buffer }>;

export async function resolveUser(crun: Crun, id: string, user: string, exec?: RootExec): Promise<string> {
  const numeric = numericUser(user);
  if (numeric !== undefined) return numeric;
  const [u, g] = splitUser(user);
  const argv = [HELPER_BUSYBOX, "sh", "-c", SCRIPT, "sh", u, g ?? ""];
  const r = exec
    ? await exec(argv)
    : await crun.exec(id, argv, { env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], cwd: "/", user: "0:0" });
  const out = r.stdout.toString().trim();
  if (r.code !== 0 || !/^\d+:\d+$/.test(out)) throw unknownUser(user);
  return out;
}
