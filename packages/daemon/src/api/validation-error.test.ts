// Schema failures as one SbxError: zod's safe-integer bound is not said beside a field's own limit.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { issueLines, validationError } from "./validation-error.js";

const schema = z.object({ t: z.number().int().min(0).max(604800), n: z.number().int() });
const issuesOf = (value: unknown) => schema.safeParse(value).error?.issues ?? [];

describe("validationError", () => {
  it("says a huge value once, with the field's own limit", () => {
    const e = validationError(issuesOf({ t: 1e99, n: 1 }));
    expect(e.code).toBe("out_of_range");
    expect(e.message).toBe("invalid request: t: Too big: expected number to be <=604800");
    expect(e.details).toEqual({ issues: ["t: Too big: expected number to be <=604800"] });
  });

  it("keeps the safe-integer bound of a field that has no other, and issues of other fields", () => {
    const { lines, range } = issueLines(issuesOf({ t: -1e99, n: 1e99 }));
    expect(range).toBe(true);
    expect(lines).toEqual([
      "t: Too small: expected number to be >=0",
      `n: Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`,
    ]);
  });

  it("is invalid_argument when no value is out of range", () => {
    expect(validationError(issuesOf({ t: "x", n: 1.5 })).code).toBe("invalid_argument");
  });
});
