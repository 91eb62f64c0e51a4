// `--secret NAME=VALUE` on `sbx new` and `sbx run`: like -e, but the daemon keeps the value out of
// its database and never answers it (info and ls show the name only). A malformed flag is reported
// without echoing what was typed, which may be the secret itself.
import { SbxError } from "@sbx-sh/protocol";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Where a malformed flag's problem waits: commander would print the argument with any error thrown here. */
const PROBLEM = "";

export function parseSecretPair(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  const name = value.slice(0, Math.max(eq, 0));
  if (eq <= 0) return { ...previous, [PROBLEM]: "--secret expects NAME=VALUE (the value is not shown)" };
  if (!ENV_NAME.test(name))
    return {
      ...previous,
      [PROBLEM]: `--secret ${JSON.stringify(name)}: the name must be an environment variable name: letters, digits and _, not starting with a digit`,
    };
  return { ...previous, [name]: value.slice(eq + 1) };
}

/** The secrets for the create request; a malformed flag is an error that does not show its value. */
export function secretsOf(flags: Record<string, string>): Record<string, string> {
  if (PROBLEM in flags) throw new SbxError("invalid_argument", flags[PROBLEM]!);
  return flags;
}
