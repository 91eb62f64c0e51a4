// The checks each Image method runs on its arguments, at the call (so the message points at the
// user's line, not at a later build). Each takes `bad`, which makes the method's error (with its
// name and source line), and answers the value the step stores.
import { SbxError } from "@sbx-sh/protocol";
import { registerInternalModule } from "./source-location.js";

// The errors are made in these frames: the user's line is further up the stack.
registerInternalModule(import.meta.url);

type Bad = (message: string) => SbxError;

const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const USER_RE = /^(\d+|[a-z_][a-z0-9_-]*)(:(\d+|[a-z_][a-z0-9_-]*))?$/;
const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function checkTag(tag: unknown): string {
  if (typeof tag !== "string" || !TAG_RE.test(tag))
    throw new SbxError(
      "invalid_name",
      `invalid image tag ${JSON.stringify(tag)}: up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'`,
    );
  return tag;
}

export function checkBaseImage(base: unknown): string {
  if (typeof base !== "string" || !base.trim() || base.length > 255 || /[\s\0]/.test(base)) {
    throw new SbxError(
      "invalid_argument",
      `invalid base image ${JSON.stringify(base)}: give an image name such as "debian-minimal" or "my-image:v1"`,
    );
  }
  return base;
}

/** A shell command (a string), or a program with arguments and no shell (an array). */
export function checkRunCommand(command: unknown, bad: Bad): string | string[] {
  if (typeof command === "string") {
    if (!command.trim()) throw bad("the command is empty");
    return command;
  }
  if (Array.isArray(command)) {
    if (!command.length || !command.every((a) => typeof a === "string") || !command[0])
      throw bad("an array command is [program, ...args] with a non-empty program and string arguments");
    return [...(command as string[])];
  }
  throw bad("the command is a string (run by /bin/sh) or an array of strings (run without a shell)");
}

export function checkEnv(key: unknown, value: unknown, bad: Bad): void {
  if (typeof key !== "string" || !ENV_KEY_RE.test(key))
    throw bad(`invalid variable name ${JSON.stringify(key)}: letters, digits and _, not starting with a digit`);
  if (typeof value !== "string") throw bad(`the value of ${key} must be a string (got ${typeof value}); use String(x)`);
}

export function checkUser(name: unknown, bad: Bad): string {
  if (typeof name !== "string" || !USER_RE.test(name))
    throw bad(`invalid user ${JSON.stringify(name)}: use name, uid, name:group or uid:gid`);
  return name;
}

/** One path or a list of them, none empty; `example` shows the call. */
export function checkPaths(src: unknown, bad: Bad, example: string): string[] {
  const paths = typeof src === "string" ? [src] : src;
  if (
    !Array.isArray(paths) ||
    !paths.length ||
    !paths.every((p) => typeof p === "string" && p.trim() !== "" && !p.includes("\0"))
  )
    throw bad(example);
  return [...(paths as string[])];
}

/** copy() takes local paths; add() also http(s) URLs. */
export function checkSources(op: "copy" | "add", sources: string[], bad: Bad): void {
  for (const s of sources) {
    const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(s);
    if (url && op === "copy") throw bad(`copy() takes local paths; to download ${s} use add()`);
    if (url && !/^https?:\/\//i.test(s)) throw bad(`only http and https URLs can be downloaded, not ${s}`);
    if (url && !isUrl(s)) throw bad(`${s} is not a valid URL`);
  }
}

export function checkDest(dest: unknown, bad: Bad): string {
  if (typeof dest !== "string" || !dest.trim() || dest.includes("\0"))
    throw bad('give a destination, e.g. "/opt/app/"');
  return dest;
}

/** The `chown` and `chmod` of a copy step (a mode as four octal digits). */
export function checkOwnership(o: { chown?: unknown; chmod?: unknown }, bad: Bad): { chown?: string; chmod?: string } {
  const out: { chown?: string; chmod?: string } = {};
  if (o.chown !== undefined) {
    if (typeof o.chown !== "string" || !USER_RE.test(o.chown))
      throw bad(`invalid chown ${JSON.stringify(o.chown)}: use user[:group], by name or id`);
    out.chown = o.chown;
  }
  if (o.chmod !== undefined) out.chmod = checkMode(o.chmod, bad);
  return out;
}

function checkMode(chmod: unknown, bad: Bad): string {
  if (typeof chmod === "number" && Number.isInteger(chmod) && chmod >= 0 && chmod <= 0o7777)
    return chmod.toString(8).padStart(4, "0");
  if (typeof chmod === "string" && /^[0-7]{3,4}$/.test(chmod)) return chmod;
  throw bad(`invalid chmod ${JSON.stringify(chmod)}: use an octal mode such as "0755" or 0o755`);
}

/** An exec-form command; a string means `/bin/sh -c <string>`. */
export function checkArgv(args: unknown, bad: Bad): string[] {
  if (typeof args === "string") {
    if (!args.trim()) throw bad("the command is empty");
    return ["/bin/sh", "-c", args];
  }
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string"))
    throw bad('give an array of strings, e.g. ["python3", "app.py"]');
  return [...(args as string[])];
}

function isUrl(s: string): boolean {
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}
