// The route table against the API the daemon documents (openapi.json, itself checked against the
// daemon's routes): every template a client can build is served, and apiPath encodes what it fills in.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { apiPath, ROUTES } from "./routes.js";

const spec = JSON.parse(readFileSync(new URL("../../../openapi.json", import.meta.url), "utf8")) as {
  paths: Record<string, unknown>;
};
/** WebSocket endpoints the OpenAPI document does not describe. */
const WEBSOCKET_ONLY = new Set(["portConnect"]);

describe("ROUTES", () => {
  it("names only paths the daemon serves", () => {
    const missing = Object.entries(ROUTES)
      .filter(([name, template]) => !WEBSOCKET_ONLY.has(name) && !(template in spec.paths))
      .map(([name, template]) => `${name}: ${template}`);
    expect(missing).toEqual([]);
  });

  it("fills and encodes placeholders", () => {
    expect(apiPath("info")).toBe("/v1/info");
    expect(apiPath("process", { id: "sb-1", pid: "p/../x" })).toBe("/v1/sandboxes/sb-1/processes/p%2F..%2Fx");
    expect(apiPath("port", { id: "my box", port: 8080 })).toBe("/v1/sandboxes/my%20box/ports/8080");
    // A missing value is a programming error, never a path with "undefined" in it.
    expect(() => apiPath("sandbox", {} as { id: string })).toThrow(/no value for \{id\}/);
  });
});
