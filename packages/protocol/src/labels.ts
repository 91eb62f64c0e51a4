// Sandbox labels (`--label team=ml`): small key/value pairs for filtering `ls`. Keys are short
// identifiers; values are one line of printable text, so a label can never forge a line in a
// table or a log. Shared by the CLI (which names its flag) and the daemon (which has the last word).
import { SbxError } from "./errors.js";

const KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;
const MAX_VALUE = 256;
export const MAX_LABELS = 32;
// C0 and C1 controls, DEL, and the Unicode line/paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** What is wrong with one label, or undefined when it is fine. */
export function labelProblem(key: string, value: string): string | undefined {
  if (!KEY.test(key))
    return `label key ${JSON.stringify(key)} must be 1-63 letters, digits, '.', '_', '/' or '-', starting with a letter or digit`;
  if (value.length > MAX_VALUE) return `label ${key}'s value is longer than ${MAX_VALUE} characters`;
  if (CONTROL.test(value)) return `label ${key}'s value contains a newline or another control character`;
  return undefined;
}

/** Refuses (invalid_argument) a label set with a bad key or value, or too many labels. */
export function assertValidLabels(labels: Record<string, string>, what = "labels"): void {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS)
    throw new SbxError("invalid_argument", `${what}: at most ${MAX_LABELS} labels, got ${entries.length}`);
  for (const [k, v] of entries) {
    const problem = labelProblem(k, v);
    if (problem) throw new SbxError("invalid_argument", `${what}: ${problem}`);
  }
}

/** Whether a sandbox's labels carry every `key=value` of `wanted` (a bare key matches any value). */
export function labelsMatch(labels: Record<string, string> | undefined, wanted: string[]): boolean {
  return wanted.every((w) => {
    const eq = w.indexOf("=");
    const key = eq < 0 ? w : w.slice(0, eq);
    const have = labels?.[key];
    return have !== undefined && (eq < 0 || have === w.slice(eq + 1));
  });
}
