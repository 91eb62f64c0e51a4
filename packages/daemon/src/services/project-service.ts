// Projects (the scope of every object) and their API tokens. Only a token's sha256 is stored;
// the secret is shown once, when it is created.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { SbxError, assertValidName, newId } from "@sbx-sh/protocol";
import type { ImageOps, Store } from "../store/store.js";
import type { ProjectRecord } from "../domain/records.js";

/** A token as listed: never its secret (only its hash is kept, and that is not shown either). */
export interface TokenSummary {
  id: string;
  project: string;
  createdAt: string;
}

/**
 * A memory of lookups that the store's change notifications keep right (cluster/route-cache.ts, on a
 * control replica): tokens and projects are looked up on every call, and change rarely.
 */
export interface LookupMemo {
  get<V>(
    key: string,
    load: () => Promise<V | undefined>,
    keep: (v: V) => { ms: number; tags: string[] } | null,
  ): Promise<V | undefined>;
  forget(tag: string): void;
}

export class ProjectService {
  /** Set on a control replica once its route cache listens (daemon.ts). */
  memo: LookupMemo | undefined;

  constructor(
    private readonly store: Store,
    /** To refuse deleting a project that still has images or snapshots. */
    private readonly images?: Pick<ImageOps, "listImages" | "listSnapshots">,
  ) {}

  list(): Promise<ProjectRecord[]> {
    return this.store.listProjects();
  }

  async create(name: string): Promise<ProjectRecord> {
    assertValidName("project", name);
    const p = { name, createdAt: new Date().toISOString() };
    await this.store.insertProject(p);
    return p;
  }

  async require(name: string): Promise<ProjectRecord> {
    const p = this.memo
      ? await this.memo.get(
          `p\0${name}`,
          () => this.store.getProject(name),
          () => ({ ms: Infinity, tags: [`p:${name}`] }),
        )
      : await this.store.getProject(name);
    if (!p)
      throw new SbxError(
        "project_not_found",
        `project ${JSON.stringify(name)} does not exist: create it with \`sbx project create ${name}\``,
      );
    return p;
  }

  async createToken(project: string): Promise<{ id: string; project: string; token: string; createdAt: string }> {
    await this.require(project);
    const token = `sbxt_${randomBytes(24).toString("hex")}`;
    const rec = { id: newId("tok"), project, hash: hashToken(token), createdAt: new Date().toISOString() };
    await this.store.insertToken(rec);
    return { id: rec.id, project, token, createdAt: rec.createdAt };
  }

  /** The project a bearer token belongs to, or undefined for an unknown token. */
  async authenticate(token: string): Promise<string | undefined> {
    return (await this.identify(token))?.project;
  }

  /** The project and id of a bearer token, or undefined for an unknown token. */
  async identify(token: string): Promise<{ project: string; tokenId: string } | undefined> {
    const hash = hashToken(token);
    const rec = this.memo
      ? await this.memo.get(
          `t\0${hash}`,
          () => this.store.findTokenByHash(hash),
          (r) => ({ ms: Infinity, tags: [`t:${hash}`, `p:${r.project}`] }),
        )
      : await this.store.findTokenByHash(hash);
    if (!rec) return undefined;
    return timingSafeEqual(Buffer.from(rec.hash), Buffer.from(hash))
      ? { project: rec.project, tokenId: rec.id }
      : undefined;
  }

  async listTokens(project: string): Promise<TokenSummary[]> {
    await this.require(project);
    return (await this.store.listTokens(project)).map(({ id, project: p, createdAt }) => ({
      id,
      project: p,
      createdAt,
    }));
  }

  /** Revokes a token; never the one the request itself came with (the caller would lock itself out). */
  async revokeToken(project: string, id: string, inUse?: string): Promise<TokenSummary> {
    await this.require(project);
    const rec = (await this.store.listTokens(project)).find((t) => t.id === id);
    if (!rec)
      throw new SbxError(
        "not_found",
        `token ${JSON.stringify(id)} does not exist in project ${project}: list them with \`sbx token ls\``,
      );
    if (id === inUse)
      throw new SbxError(
        "failed_precondition",
        `token ${id} is the one this request was made with: revoke it with another token or over the daemon's unix socket`,
      );
    await this.store.deleteToken(project, id);
    // Every replica hears of it from PostgreSQL; this one forgets it before answering.
    this.memo?.forget(`t:${rec.hash}`);
    return { id: rec.id, project: rec.project, createdAt: rec.createdAt };
  }

  /**
   * Deletes an empty project with its tokens. `current` is the project the request works in: deleting
   * it would pull the ground from under the caller, so it is refused, as are `default` and a project
   * that still has sandboxes (live or kept after termination), images or snapshots.
   */
  async delete(name: string, current: string): Promise<ProjectRecord> {
    const p = await this.require(name);
    if (name === "default") throw new SbxError("failed_precondition", "the default project cannot be deleted");
    if (name === current)
      throw new SbxError(
        "failed_precondition",
        `project ${name} is the current project: switch to another first (\`sbx project use default\`)`,
      );
    const sandboxes = await this.store.listSandboxes({ project: name, includeTerminated: false });
    const images = (await this.images?.listImages(name)) ?? [];
    const snapshots = (await this.images?.listSnapshots(name)) ?? [];
    if (sandboxes.length || images.length || snapshots.length)
      throw new SbxError(
        "failed_precondition",
        `project ${name} is not empty (${sandboxes.length} sandboxes, ${images.length} images, ${snapshots.length} snapshots): remove them first (\`sbx ls --project ${name}\`, \`sbx image ls --project ${name}\`, \`sbx snapshot ls --project ${name}\`)`,
        { sandboxes: sandboxes.length, images: images.length, snapshots: snapshots.length },
      );
    const volumes = await this.store.listVolumes(name);
    if (volumes.length)
      throw new SbxError(
        "failed_precondition",
        `project ${name} still has ${volumes.length} volumes: remove them first (\`sbx volume ls --project ${name}\`)`,
        { volumes: volumes.length },
      );
    // Terminated sandboxes' records would otherwise be orphans of a project that no longer exists.
    for (const s of await this.store.listSandboxes({ project: name, includeTerminated: true }))
      await this.store.deleteSandbox(s.id);
    await this.store.deleteProject(name);
    this.memo?.forget(`p:${name}`);
    return p;
  }
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
