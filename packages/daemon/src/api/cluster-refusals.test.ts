// What a control plane refuses instead of running on its own host: pools, volumes, events, stats,
// prune and copies (sbx's API), pools, archives and copies (Tensorlake's); sandbox calls, images,
// builds and snapshots are not refused here.
import { describe, expect, it } from "vitest";
import { controlPlaneRefusal, controlPlaneTlRefusal } from "./cluster-refusals.js";

describe("control plane refusals", () => {
  it("refuses calls that would act on the control host, with unimplemented", () => {
    for (const path of [
      "/v1/pools",
      "/v1/pools/p1/sandboxes",
      "/v1/volumes/v",
      "/v1/events",
      "/v1/stats",
      "/v1/sandboxes/prune",
      "/v1/sandboxes/sb-1/copy",
    ]) {
      const e = controlPlaneRefusal(path);
      expect(e?.code, path).toBe("unimplemented");
      expect(e?.message).toMatch(/not available on a cluster control plane yet/);
    }
    for (const path of ["/sandbox-pools", "/sandbox-pools/x", "/archived-sandboxes", "/sandboxes/sb-1/copy"])
      expect(controlPlaneTlRefusal(path)?.code, path).toBe("unimplemented");
  });

  it("leaves sandbox calls, images, builds, snapshots and projects alone", () => {
    for (const path of [
      "/v1/sandboxes",
      "/v1/sandboxes/sb-1",
      "/v1/sandboxes/sb-1/stats",
      "/v1/sandboxes/sb-1/exec",
      "/v1/images",
      "/v1/builds/b1",
      "/v1/snapshots",
      "/v1/projects/p/quota",
      "/v1/nodes",
      "/v1/poolside",
    ])
      expect(controlPlaneRefusal(path), path).toBeNull();
    for (const path of ["/sandboxes", "/sandboxes/sb-1", "/snapshots", "/api/v1/processes/run"])
      expect(controlPlaneTlRefusal(path), path).toBeNull();
  });
});
