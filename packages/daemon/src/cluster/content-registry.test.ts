// What a node accepts as the description of pulled content (the registry's answer is not trusted),
// and how a registry failure while committing is reported.
import { describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { contentClient, notCommitted, parseContentMeta, type ContentMeta } from "./content-registry.js";

const good: ContentMeta = {
  kind: "snapshot",
  id: "snap_1",
  project: "default",
  sourceSandboxId: "sb_1",
  sourceImage: "debian-minimal",
  sourceImageId: "sha256:" + "a".repeat(64),
  baseRecipe: { name: "debian-minimal", id: "b1" },
  baseImage: "debian-minimal",
  config: { env: ["PATH=/bin"], workingDir: "/", user: "root", systemd: false },
  steps: ["snapshot snap_1 of sb_1"],
};

describe("cluster content description", () => {
  it("parses what a node pushed, with or without a base recipe", () => {
    expect(parseContentMeta(JSON.stringify(good))).toEqual(good);
    expect(parseContentMeta(JSON.stringify({ ...good, baseRecipe: null })).baseRecipe).toBeNull();
  });

  it.each([
    ["no annotation", undefined],
    ["not JSON", "{"],
    ["another kind", JSON.stringify({ ...good, kind: "image" })],
    ["env not strings", JSON.stringify({ ...good, config: { ...good.config, env: [1] } })],
    ["systemd not boolean", JSON.stringify({ ...good, config: { ...good.config, systemd: "yes" } })],
    ["steps missing", JSON.stringify({ ...good, steps: undefined })],
    ["base recipe without id", JSON.stringify({ ...good, baseRecipe: { name: "x" } })],
    ["huge string", JSON.stringify({ ...good, id: "x".repeat(5000) })],
  ])("refuses %s as invalid_archive", (_what, raw) => {
    expect(() => parseContentMeta(raw)).toThrow(expect.objectContaining({ code: "invalid_archive" }));
  });

  it("says a snapshot was not committed, as upstream_unreachable when the registry is down", () => {
    const down = notCommitted(
      "snapshot snap_1",
      "r:5000",
      new SbxError("failed_precondition", "registry r:5000: cannot reach http://r:5000 (ECONNREFUSED)"),
    );
    expect(down.code).toBe("upstream_unreachable");
    expect(down.message).toMatch(/snapshot snap_1 was not committed: the cluster registry r:5000/);
    expect(notCommitted("snapshot s", "r:5000", new SbxError("permission_denied", "no")).code).toBe(
      "permission_denied",
    );
    expect(notCommitted("snapshot s", "r:5000", new Error("EIO")).code).toBe("upstream_unreachable");
  });

  it("talks to the configured registry although it is loopback or private, by digest when given", () => {
    const c = contentClient("127.0.0.1:5000", null, "sha256:" + "c".repeat(64));
    expect(c.base).toBe("http://127.0.0.1:5000");
    expect(c.ref).toMatchObject({ repository: "sbx/content", tag: null, digest: "sha256:" + "c".repeat(64) });
    expect(contentClient("registry.internal:5000", "snap_1").base).toBe("https://registry.internal:5000");
  });
});
