// The control plane's image records on the run's throwaway PostgreSQL: a node's report of an image
// it committed is recorded under the project and name the build was placed with (never the node's
// word), once; another node, a malformed report or a second report is refused and records nothing;
// a create names the image's layers and manifest, and an image removed there is not found again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { openStores } from "../store/open-stores.js";
import type { Stores } from "../store/store.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";
import { BuildDirectory } from "./build-directory.js";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import { ContentRecords } from "./content-records.js";
import { checkImageReport, ControlImages } from "./control-images.js";
import { parseImageMeta } from "./content-image.js";

let db: ClusterDb;
let stores: Stores;
let images: ControlImages;
const schema = freshSchema("cimg");
const hex = (n: number): string => `sha256:${n.toString(16).padStart(64, "0")}`;

beforeAll(async () => {
  stores = await openStores({ kind: "postgres", url: pgTestUrl(), schema });
  db = await openClusterDb({ url: pgTestUrl(), schema });
  const records = await ContentRecords.open(db.pool, schema);
  images = new ControlImages(stores.images, records, await BuildDirectory.open(db.pool, schema));
  images.isBase = (name) => name === "debian";
});
afterAll(async () => {
  await db.close();
  await stores.close();
});

const report = (build: string, over: Record<string, unknown> = {}) => ({
  build,
  manifest: hex(1),
  image: {
    ref: "img-abcdefgh1234",
    id: hex(2),
    baseImage: "debian",
    baseId: "base-1",
    config: { env: ["A=1"], workingDir: "/", user: "root", entrypoint: null, cmd: ["sh"], systemd: false },
    sizeBytes: 10,
    createdAt: "2020-01-01T00:00:00Z",
    layers: [{ digest: hex(3), sizeBytes: 10, step: "RUN true" }],
    ...over,
  },
});
const code = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "ok",
    (e: unknown) => (e instanceof SbxError ? e.code : String(e)),
  );

describe("ControlImages", () => {
  it("records a committed image under the placement's project and name, once, and only from its node", async () => {
    await images.builds.add({
      id: "bld-aaaaaaaa1",
      project: "p1",
      node: "n1",
      imageName: "tools",
      tag: "v1",
      replace: false,
    });
    // Another node cannot report it; a malformed report is refused before anything is read.
    expect(await code(images.record("n2", report("bld-aaaaaaaa1")))).toBe("not_found");
    expect(await code(images.record("n1", { ...report("bld-aaaaaaaa1"), manifest: "sha256:zz" }))).toBe(
      "invalid_argument",
    );
    const img = await images.record("n1", report("bld-aaaaaaaa1"));
    expect(img).toMatchObject({
      project: "p1",
      name: "tools",
      tag: "v1",
      ref: "img-abcdefgh1234",
      buildId: "bld-aaaaaaaa1",
    });
    expect((await stores.images.findImage("p1", "tools", "v1"))?.id).toBe(hex(2));
    // Reported again (or replayed): refused, nothing changes.
    expect(await code(images.record("n1", report("bld-aaaaaaaa1", { ref: "img-other0000000" })))).toBe(
      "already_exists",
    );
    const found = await images.resolve("p1", "tools:v1");
    expect(found).toMatchObject({
      name: "tools",
      tag: "v1",
      layers: [hex(3)],
      record: { manifest: hex(1), node: "n1" },
    });
    // Another project has no such image; a base recipe is left to the node; removed means not found.
    expect(await code(images.resolve("p2", "tools:v1"))).toBe("image_not_found");
    expect(await images.resolve("p1", "debian")).toBeNull();
    await stores.images.markImageDeleted(img.ref);
    expect(await code(images.resolve("p1", "tools:v1"))).toBe("image_not_found");
  });

  it("an image made on the control host itself is not launched on a node", async () => {
    const config = { env: [], workingDir: "/", user: "root", entrypoint: null, cmd: null, systemd: false };
    await stores.images.registerImage(
      {
        ...{ ref: "img-local0000000", id: hex(9), project: "p1", name: "local", tag: "latest" },
        ...{ baseImage: "debian", baseId: "b", baseDir: "/x", layers: [], config, sizeBytes: 0 },
        ...{ buildId: null, createdAt: new Date().toISOString(), deletedAt: null },
      },
      false,
    );
    expect(await code(images.resolve("p1", "local"))).toBe("failed_precondition");
  });
});

describe("hostile reports and manifests", () => {
  it("refuses reports with bad refs, digests, configs or too many layers", () => {
    const bad = [
      { ...report("bld-x"), build: "../../etc" },
      report("bld-aaaaaaaa1", { ref: "img-../../x" }),
      report("bld-aaaaaaaa1", { id: "sha256:short" }),
      report("bld-aaaaaaaa1", { config: { env: "A=1" } }),
      report("bld-aaaaaaaa1", {
        layers: Array.from({ length: 129 }, () => ({ digest: hex(3), sizeBytes: 1, step: "s" })),
      }),
      report("bld-aaaaaaaa1", { sizeBytes: -1 }),
      null,
    ];
    for (const b of bad) expect(() => checkImageReport(b)).toThrow(SbxError);
    expect(checkImageReport(report("bld-aaaaaaaa1")).build).toBe("bld-aaaaaaaa1");
  });

  it("reads back only a well-formed image description", () => {
    const meta = {
      kind: "image",
      ref: "img-abcdefgh1234",
      project: "p1",
      name: "tools",
      tag: "v1",
      imageId: hex(2),
      baseRecipe: { name: "debian", id: "r1" },
      baseImage: "debian",
      baseId: "r1",
      config: { env: [], workingDir: "/", user: "root", entrypoint: null, cmd: null, systemd: false },
      steps: ["RUN true"],
      buildId: "bld-aaaaaaaa1",
    };
    expect(parseImageMeta(JSON.stringify(meta)).name).toBe("tools");
    for (const over of [
      { kind: "snapshot" },
      { ref: "x" },
      { imageId: "sha256:1" },
      { steps: "RUN" },
      { config: null },
    ])
      expect(() => parseImageMeta(JSON.stringify({ ...meta, ...over }))).toThrow(/malformed/);
    expect(() => parseImageMeta("not json")).toThrow(/no sbx image description/);
  });
});
