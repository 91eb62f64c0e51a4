// routeTemplateOf: a path's template from the API's path table, literal paths before placeholders.
import { describe, expect, it } from "vitest";
import { routeTemplateOf } from "./route-template.js";

describe("routeTemplateOf", () => {
  it("names the template a path is an instance of, in hono's spelling", () => {
    expect(routeTemplateOf("/v1/sandboxes/sb-1/exec")).toBe("/v1/sandboxes/:id/exec");
    expect(routeTemplateOf("/v1/sandboxes/my.box")).toBe("/v1/sandboxes/:id");
    expect(routeTemplateOf("/v1/sandboxes/sb-1/processes/p7/output")).toBe("/v1/sandboxes/:id/processes/:pid/output");
    expect(routeTemplateOf("/v1/sandboxes/sb-1/terminals/t1/attach")).toBe("/v1/sandboxes/:id/terminals/:tid/attach");
    expect(routeTemplateOf("/v1/sandboxes")).toBe("/v1/sandboxes");
  });

  it("prefers a literal path to a placeholder that would also match it", () => {
    expect(routeTemplateOf("/v1/sandboxes/prune")).toBe("/v1/sandboxes/prune");
    expect(routeTemplateOf("/v1/images/import")).toBe("/v1/images/import");
    expect(routeTemplateOf("/v1/images/pull")).toBe("/v1/images/pull");
  });

  it("answers undefined for a path the API does not have (never the raw path)", () => {
    for (const p of [
      "/v1/nothing-here/sb-1",
      "/v1/sandboxes/sb-1/nope",
      "/v1/sandboxes/a/b/c/d/e",
      "/",
      "/v1/sandboxes/",
    ])
      expect(routeTemplateOf(p), p).toBeUndefined();
  });
});
