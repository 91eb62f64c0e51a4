// `image rm` of a Dockerfile image removes the stage images its COPY --from stages registered
// beside it (`name:stage-N` for latest, `name:<tag>-stage-N` for other tags), and nothing else.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startServices, type ServiceHarness } from "./testing/service-harness.js";

let h: ServiceHarness;
beforeEach(async () => {
  h = await startServices();
});
afterEach(async () => {
  await h.close();
});
const P = "default";

async function build(tag: string): Promise<void> {
  const b = await h.builds.create(P, {
    definition: { name: "app", tag, baseImage: "fake-base", steps: [{ op: "run", command: `echo ${tag} > /t` }] },
  });
  for await (const _ of h.builds.events(P, b.id, true));
  expect((await h.builds.get(P, b.id)).state).toBe("succeeded");
}
const tags = async (): Promise<string[]> =>
  (await h.stores.images.listImages(P))
    .filter((i) => i.name === "app")
    .map((i) => i.tag)
    .sort();

describe("image rm and stage images", () => {
  it("removes the image's own stages and leaves other tags' stages and images alone", async () => {
    for (const t of ["latest", "stage-0", "stage-1", "v2", "v2-stage-0", "stage-x"]) await build(t);
    await h.images.remove(P, "app");
    expect(await tags()).toEqual(["stage-x", "v2", "v2-stage-0"]);
    await h.images.remove(P, "app:v2");
    expect(await tags()).toEqual(["stage-x"]);
  });
});
