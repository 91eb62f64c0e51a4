// A build the control plane placed on a cluster node (BuildService.create with its id) is committed
// through the publish hook before it is registered: the hook sees the image while it is not yet in
// the store, a failing hook (registry down) fails the build with its message and registers
// nothing, and a node without a registry refuses to run such a build. A build not placed by a
// control plane never calls the hook.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ImageDefinition } from "@sbx-sh/protocol";
import type { ImageRecord } from "../domain/records.js";
import { startServices, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness;
beforeEach(async () => {
  h = await startServices();
});
afterEach(async () => {
  await h.close();
});

const P = "default";
const definition: ImageDefinition = {
  name: "app",
  baseImage: "fake-base",
  steps: [{ op: "run", command: "echo built > /built.txt" }],
};

async function finished(id: string) {
  for await (const ev of h.builds.events(P, id, true)) void ev;
  return h.builds.get(P, id);
}

describe("BuildService publish hook (cluster nodes)", () => {
  it("commits a placed build before registering it, under the control plane's id", async () => {
    const seen: Array<{ img: ImageRecord; registered: boolean }> = [];
    h.builds.publish = async (img) => {
      seen.push({ img, registered: (await h.stores.images.findImage(P, "app", "latest")) !== undefined });
    };
    const rec = await finished((await h.builds.create(P, { definition }, { id: "bld-fromcontrol1" })).id);
    expect(rec).toMatchObject({ id: "bld-fromcontrol1", state: "succeeded" });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ registered: false, img: { name: "app", buildId: "bld-fromcontrol1" } });
    expect((await h.stores.images.findImage(P, "app", "latest"))?.ref).toBe(seen[0]!.img.ref);
    // A build the node's own users start is not the cluster's: no hook.
    await finished((await h.builds.create(P, { definition, tag: "local" })).id);
    expect(seen).toHaveLength(1);
  });

  it("a failed commit fails the build and registers nothing", async () => {
    h.builds.publish = () => Promise.reject(new Error("image app:latest was not committed: registry down"));
    const rec = await finished((await h.builds.create(P, { definition }, { id: "bld-fromcontrol2" })).id);
    expect(rec.state).toBe("failed");
    expect(rec.failure?.message).toMatch(/was not committed/);
    expect(await h.stores.images.findImage(P, "app", "latest")).toBeUndefined();
  });

  it("a node without a cluster registry refuses a placed build", async () => {
    const rec = await finished((await h.builds.create(P, { definition }, { id: "bld-fromcontrol3" })).id);
    expect(rec.state).toBe("failed");
    expect(rec.failure).toMatchObject({ code: "failed_precondition" });
    expect(await h.stores.images.findImage(P, "app", "latest")).toBeUndefined();
  });
});
