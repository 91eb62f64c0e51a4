// A request that fails its schema as one SbxError: `invalid_argument`, or `out_of_range` when a
// value is outside its field's range, with the first issues in the message and all of them in
// `details.issues`. The Tensorlake routes say their issues the same way (./tensorlake/common.ts).
import { SbxError } from "@sbx-sh/protocol";

export interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  maximum?: unknown;
  minimum?: unknown;
}

/** zod's own bound on every `.int()`: the safe-integer range, beside the field's own range. */
const isSafeRangeBound = (i: Issue): boolean =>
  (i.code === "too_big" && i.maximum === Number.MAX_SAFE_INTEGER) ||
  (i.code === "too_small" && i.minimum === Number.MIN_SAFE_INTEGER);

/**
 * The issues as `path: message` lines. A value such as 1e99 breaks both the safe-integer bound and
 * the field's own limit; only the field's is said, so the message names the limit the caller can
 * act on, once.
 */
export function issueLines(issues: readonly Issue[]): { lines: string[]; range: boolean } {
  const key = (i: Issue) => JSON.stringify(i.path.map(String));
  const kept = issues.filter(
    (i) => !isSafeRangeBound(i) || !issues.some((o) => o !== i && key(o) === key(i) && !isSafeRangeBound(o)),
  );
  return {
    lines: kept.map((i) => `${i.path.map(String).join(".") || "body"}: ${i.message}`),
    range: kept.some((i) => i.code === "too_big" || i.code === "too_small"),
  };
}

export function validationError(issues: readonly Issue[]): SbxError {
  const { lines, range } = issueLines(issues);
  return new SbxError(range ? "out_of_range" : "invalid_argument", `invalid request: ${lines.slice(0, 3).join("; ")}`, {
    issues: lines,
  });
}
