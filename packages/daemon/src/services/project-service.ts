// Projects (the scope of every object) and their API tokens. Only a token's sha256 is stored;
// the secret is shown once, when it is created.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { SbxError, assertValidName, newId } from "@sbx-sh/protocol";
import type { Store } from "../store/store.js";
import type { ProjectRecord } from "../domain/records.js";

export class ProjectService {
  constructor(private readonly store: Store) {}

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
    const p = await this.store.getProject(name);
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
    const hash = hashToken(token);
    const rec = await this.store.findTokenByHash(hash);
    if (!rec) return undefined;
    return timingSafeEqual(Buffer.from(rec.hash), Buffer.from(hash)) ? rec.project : undefined;
  }
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
