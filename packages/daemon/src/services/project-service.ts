// Projects (the scope of every object) and their API tokens. Only a token's sha256 is stored;
// the secret is shown once, when it is created.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { SbxError } from "@sbx-sh/protocol";
import { assertValidName, newId } from "@sbx-sh/protocol";
import type { ProjectRecord, Store } from "../store/store.js";

export class ProjectService {
  constructor(private readonly store: Store) {}

  list(): ProjectRecord[] {
    return this.store.listProjects();
  }

  create(name: string): ProjectRecord {
    assertValidName("project", name);
    const p = { name, createdAt: new Date().toISOString() };
    this.store.insertProject(p);
    return p;
  }

  require(name: string): ProjectRecord {
    const p = this.store.getProject(name);
    if (!p)
      throw new SbxError(
        "project_not_found",
        `project ${JSON.stringify(name)} does not exist: create it with \`sbx project create ${name}\``,
      );
    return p;
  }

  createToken(project: string): { id: string; project: string; token: string; createdAt: string } {
    this.require(project);
    const token = `sbxt_${randomBytes(24).toString("hex")}`;
    const rec = { id: newId("tok"), project, hash: hashToken(token), createdAt: new Date().toISOString() };
    this.store.insertToken(rec);
    return { id: rec.id, project, token, createdAt: rec.createdAt };
  }

  /** The project a bearer token belongs to, or undefined for an unknown token. */
  authenticate(token: string): string | undefined {
    const hash = hashToken(token);
    const rec = this.store.findTokenByHash(hash);
    if (!rec) return undefined;
    return timingSafeEqual(Buffer.from(rec.hash), Buffer.from(hash)) ? rec.project : undefined;
  }
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
