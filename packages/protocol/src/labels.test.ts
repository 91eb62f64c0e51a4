import { describe, expect, it } from "vitest";
import { assertValidLabels, labelProblem, labelsMatch } from "./labels.js";

describe("labels", () => {
  it("accepts ordinary labels and refuses newlines, control characters and odd keys", () => {
    expect(labelProblem("team", "ml")).toBeUndefined();
    expect(labelProblem("app.kubernetes.io/name", "web server")).toBeUndefined();
    expect(labelProblem("team", "a\nb")).toMatch(/newline/);
    expect(labelProblem("team", "a\u2028b")).toMatch(/newline/);
    expect(labelProblem("team", "\u001b[31mred")).toMatch(/control/);
    expect(labelProblem("", "x")).toMatch(/key/);
    expect(labelProblem("a b", "x")).toMatch(/key/);
    expect(labelProblem("k", "x".repeat(257))).toMatch(/longer/);
    expect(() => assertValidLabels({ team: "a\nb" })).toThrow(expect.objectContaining({ code: "invalid_argument" }));
  });

  it("matches key=value and bare keys", () => {
    expect(labelsMatch({ team: "ml", env: "dev" }, ["team=ml"])).toBe(true);
    expect(labelsMatch({ team: "ml", env: "dev" }, ["team=ml", "env=prod"])).toBe(false);
    expect(labelsMatch({ team: "ml" }, ["team"])).toBe(true);
    expect(labelsMatch(undefined, ["team"])).toBe(false);
    expect(labelsMatch({ eq: "a=b" }, ["eq=a=b"])).toBe(true);
  });
});
