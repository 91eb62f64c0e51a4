// What a node accepts as the description of pulled content (the registry's answer is not trusted),
// and how a registry failure while committing is reported.
import { describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { registryFailure } from "../oci/registry-failure.js";
import { notCommitted, parseContentMeta, registryTrouble, type ContentMeta } from "./content-registry.js";

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
      registryFailure("r:5000", "failed_precondition", "cannot reach http://r:5000 (ECONNREFUSED)", undefined, "", {
        reason: "unreachable",
        transient: true,
      }),
    );
    expect(down.code).toBe("upstream_unreachable");
    expect(down.message).toMatch(/snapshot snap_1 was not committed: the cluster registry r:5000/);
    expect(notCommitted("snapshot s", "r:5000", new Error("EIO")).code).toBe("upstream_unreachable");
    // What the registry refuses or answers badly keeps its code, and says so.
    // Said by the details, not the message: a message that merely reads "cannot reach" is no outage.
    const said = new SbxError("failed_precondition", "registry r:5000: cannot reach http://r:5000 (ECONNREFUSED)");
    expect(notCommitted("snapshot s", "r:5000", said).code).toBe("failed_precondition");
    const bad = notCommitted("snapshot s", "r:5000", new SbxError("runtime_error", "registry r:5000: upload failed"));
    expect(bad.code).toBe("runtime_error");
    expect(bad.message).toMatch(/^snapshot s was not committed: the cluster registry r:5000 did not store its layers/);
  });

  it("says refused credentials and a certificate that does not verify as the operator's problem, never a 401", () => {
    for (const code of ["unauthenticated", "permission_denied"] as const) {
      const e = notCommitted("snapshot s", "r:5000", new SbxError(code, "registry r:5000: HEAD … was refused"));
      expect(e.code).toBe("upstream_unreachable");
      expect(e.message).toMatch(/refused this daemon's credentials .*--registry-auth-file/);
      expect(e.details).toMatchObject({ registry: "r:5000", reason: "registry_auth_refused" });
    }
    const tls = registryTrouble(
      "r:5000",
      new SbxError(
        "failed_precondition",
        "the TLS certificate of https://r:5000 does not verify (SELF_SIGNED_CERT_IN_CHAIN)",
        {
          reason: "tls_verify_failed",
        },
      ),
    );
    expect(tls.code).toBe("upstream_unreachable");
    expect(tls.message).toMatch(/does not verify against this daemon's --registry-ca/);
    expect(tls.details).toMatchObject({ reason: "registry_tls_verify_failed" });
    // A tampered layer is not the registry's being down: it keeps its own code.
    expect(registryTrouble("r:5000", new SbxError("invalid_archive", "does not match")).code).toBe("invalid_archive");
  });
});
