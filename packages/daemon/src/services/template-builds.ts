// Tensorlake template builds (`Image.build()` through the compat routes) as store records, so a
// build outlives the daemon that ran it: the SDK can still ask about it after a restart. A build
// that was prepared or running when the daemon stopped (a crash, kill -9) is failed at the next
// start with that reason, instead of vanishing; finished ones stay queryable.
import { SbxError, newId } from "@sbx-sh/protocol";
import type { TemplateBuildRecord } from "../domain/records.js";
import type { ImageOps } from "../store/store.js";
import { SOLE_OWNER, type BuildOwner } from "./build-owner.js";

type Store = Pick<
  ImageOps,
  "insertTemplateBuild" | "updateTemplateBuild" | "getTemplateBuild" | "listTemplateBuildsInState"
>;

export const RESTARTED =
  "the daemon restarted while this build was in progress, so it did not finish: run the build again";

export class TemplateBuilds {
  constructor(
    private readonly store: Store,
    private readonly owner: BuildOwner = SOLE_OWNER,
  ) {}

  async create(project: string, name: string): Promise<TemplateBuildRecord> {
    const rec: TemplateBuildRecord = {
      id: newId("tlb"),
      project,
      name,
      state: "prepared",
      imageId: null,
      failure: null,
      createdAt: new Date().toISOString(),
      endedAt: null,
      owner: this.owner.id,
    };
    await this.store.insertTemplateBuild(rec);
    return rec;
  }

  building(id: string): Promise<void> {
    return this.store.updateTemplateBuild(id, { state: "building" });
  }

  succeeded(id: string, imageId: string): Promise<void> {
    return this.store.updateTemplateBuild(id, { state: "succeeded", imageId, endedAt: new Date().toISOString() });
  }

  failed(id: string, failure: string): Promise<void> {
    return this.store.updateTemplateBuild(id, { state: "failed", failure, endedAt: new Date().toISOString() });
  }

  /** The project's build; another project's is as absent as a missing one. */
  async get(project: string, id: string): Promise<TemplateBuildRecord> {
    const rec = await this.store.getTemplateBuild(id);
    if (!rec || rec.project !== project) throw new SbxError("not_found", `template build ${id} does not exist`);
    return rec;
  }

  /** Daemon start (and often, on control replicas): builds in progress whose daemon is gone died with it. */
  async reconcile(): Promise<number> {
    let n = 0;
    for (const b of await this.store.listTemplateBuildsInState(["prepared", "building"]))
      if (await this.owner.isGone(b.owner)) {
        await this.failed(b.id, RESTARTED);
        n++;
      }
    return n;
  }
}
