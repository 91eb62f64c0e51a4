import { describe, expect, it } from "vitest";
import { hasDotSegment } from "./dot-segments.js";

describe("hasDotSegment", () => {
  it("finds . and .. segments, literal or percent-encoded, in the path only", () => {
    for (const t of ["/v1/builds/../events", "/v1/builds/%2e%2e/events", "/v1/%2E/x", "/v1/sandboxes/..", "/./v1"])
      expect(hasDotSegment(t), t).toBe(true);
    for (const t of ["/v1/events", "/v1/files?path=../../etc", "/v1/images/a..b", "/v1/x/...", "/v1/%252e%252e"])
      expect(hasDotSegment(t), t).toBe(false);
  });
});
