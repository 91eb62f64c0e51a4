// copy -n N on the fake runtime with a real layer store: the copies have the source's files, env
// and secrets; the snapshot they were made from is deleted unless kept, and they run on without it.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readText, startServices, writeText, type ServiceHarness } from "./testing/service-harness.js";

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
});
