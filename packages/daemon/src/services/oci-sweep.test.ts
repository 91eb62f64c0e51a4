// OciService's start-up sweep: what a killed daemon left in data/tmp from exports, imports and
// cluster content transfers goes; anything else there stays.
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempName } from "../oci/export.js";
import type { LayersInUse } from "./layers-in-use.js";
import { OciService } from "./oci-service.js";

describe("OciService.sweep", () => {
  let root: string | undefined;
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("removes export and import temp dirs, spool files and cluster content dirs, and nothing else", async () => {
    root = await mkdtemp(join(tmpdir(), "sbx-ocisweep-"));
    const exportDir = tempName(root);
    mkdirSync(exportDir);
    // A layout being written for a push: its spool file inside goes with it.
    writeFileSync(tempName(exportDir), "half a blob");
    writeFileSync(tempName(root), "a spooled layer");
    mkdirSync(join(root, "content-0123456789ab"));
    writeFileSync(join(root, "content-0123456789ab", "blob"), "a cluster blob");
    mkdirSync(join(root, "keep-me"));
    writeFileSync(join(root, "oci-notahexname"), "");
    const inUse = { add: () => undefined } as unknown as LayersInUse;
    const svc = new OciService(null as never, null as never, null as never, inUse, { uidBase: 100000, tmpDir: root });
    await svc.sweep();
    expect((await readdir(root)).sort()).toEqual(["keep-me", "oci-notahexname"]);
  });
});
