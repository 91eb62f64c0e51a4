// Validation of user-chosen names and generation of object ids. One place, so the daemon, the
// CLI and the SDK agree on what a valid sandbox/project/image name is.
import { randomBytes } from "node:crypto";
import { SbxError } from "./errors.js";

const NAME_RE = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

export function assertValidName(kind: string, name: string): string {
  if (!NAME_RE.test(name)) {
    throw new SbxError(
      "invalid_name",
      `invalid ${kind} name ${JSON.stringify(name)}: use 1-63 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit`,
    );
  }
  return name;
}

const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Image tags, as Docker spells them: letters, digits, '_', '.', '-', at most 128, no leading '.' or '-'. */
export function assertValidTag(tag: string): string {
  if (!TAG_RE.test(tag))
    throw new SbxError(
      "invalid_name",
      `invalid tag ${JSON.stringify(tag)}: use up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'`,
    );
  return tag;
}

export function isValidName(name: string): boolean {
  return NAME_RE.test(name);
}

/** A random id like `sb-k3j9x0q2m4ab`: prefix, dash, 12 base-36 characters. */
export function newId(prefix: string): string {
  const bytes = randomBytes(12);
  let out = "";
  for (const b of bytes) out += ID_ALPHABET[b % ID_ALPHABET.length];
  return `${prefix}-${out}`;
}
