// copy -n N on the fake runtime with a real layer store: the copies have the source's files, env
// and secrets; the snapshot they were made from is deleted unless kept, and they run on without it,
// also when the daemon dies before the copy could delete it.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventually, readText, startServices, writeText, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness;
beforeEach(async () => {
  h = await startServices();
});
afterEach(async () => {
  await h.close();
});
const P = "default";

describe("copying a sandbox", () => {
  it("gives the copies the source's files, env and secrets, and deletes the snapshot unless kept", async () => {
    const src = await h.sandboxes.create(P, { env: { MODE: "x" }, secrets: { TOKEN: "t0ken" } });
    await writeText(h, src.id, "/data/f.txt", "from the source\n");
    const copies = await h.sandboxes.fork(P, src.id, 2);
    expect(await h.snapshots.list(P)).toEqual([]);
    await h.gc.collect();
    for (const c of copies) {
      expect(await readText(h, c.id, "/data/f.txt")).toBe("from the source\n");
      expect(c).toMatchObject({ env: { MODE: "x" }, secretNames: ["TOKEN"] });
      expect(await h.sandboxes.secretsOf(c)).toEqual({ TOKEN: "t0ken" });
    }
    const kept = await h.sandboxes.fork(P, src.id, 1, true);
    expect((await h.snapshots.list(P)).map((s) => s.sourceSandboxId)).toEqual([src.id]);
    expect(await readText(h, kept[0]!.id, "/data/f.txt")).toBe("from the source\n");
  });

  it("deletes at the next start the snapshot of a copy the daemon died in, unless the copy was to keep it", async () => {
    const src = await h.sandboxes.create(P, {});
    await writeText(h, src.id, "/data/f.txt", "from the source\n");
    // The copies never finish starting: the daemon is killed with the snapshot taken and not yet deleted.
    const create = h.runtime.create.bind(h.runtime);
    h.runtime.create = () => new Promise(() => undefined);
    void h.sandboxes.fork(P, src.id, 2);
    void h.sandboxes.fork(P, src.id, 1, true);
    await eventually(async () => (await h.snapshots.list(P)).filter((s) => s.status === "completed").length === 2);
    h.runtime.create = create;

    h = await h.restart({ killed: true });
    expect((await h.snapshots.list(P)).map((s) => s.status)).toEqual(["completed"]);
    expect(await h.stores.images.listSnapshots(P)).toHaveLength(1);
    expect(await readText(h, src.id, "/data/f.txt")).toBe("from the source\n");
  });
});
