// Build contexts (the tars of COPY/ADD steps), stored once by digest but visible per project.
// The SDK packs contexts deterministically (sorted, mtime 0), so a digest is a function of the files:
// if one project could ask whether a digest is present, it could confirm guesses about another
// project's files (a pin in a copied config, one HEAD per guess). A project sees, and builds with,
// only the contexts it uploaded itself: each upload leaves a claim `projects/<project>/<hex>`
// beside the shared blob; another project holding the same files uploads them once (stored
// nothing new, claimed). A claim is written after its blob is in place, so a crash between the
// two only makes the client upload again.
import { mkdir, open, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { assertValidName } from "@sbx-sh/protocol";
import { BlobStore, digestHex, type BlobInfo, type BlobSource } from "./blob-store.js";

export class ContextStore {
  readonly blobs: BlobStore;
  private readonly claimsDir: string;

  constructor(root: string) {
    this.blobs = new BlobStore(root);
    this.claimsDir = join(root, "projects");
  }

  /** Stores the tar (once for all projects) and records that `project` uploaded it. */
  async put(project: string, source: BlobSource, opts: { expect?: string } = {}): Promise<BlobInfo> {
    const info = await this.blobs.put(source, opts);
    const dir = this.projectDir(project);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await (await open(join(dir, digestHex(info.digest)), "a", 0o600)).close();
    return info;
  }

  /** The context's size when `project` uploaded it; undefined when absent or uploaded only by others. */
  async stat(project: string, digest: string): Promise<BlobInfo | undefined> {
    if (!(await this.claimed(project, digest))) return undefined;
    return this.blobs.stat(digest);
  }

  async has(project: string, digest: string): Promise<boolean> {
    return (await this.stat(project, digest)) !== undefined;
  }

  /** The file holding a context's tar; callers check `has` for the project first. */
  path(digest: string): string {
    return this.blobs.path(digest);
  }

  /** Drops a deleted project's claims: a project made later under its name starts with none. */
  async forgetProject(project: string): Promise<void> {
    await rm(this.projectDir(project), { recursive: true, force: true });
  }

  private async claimed(project: string, digest: string): Promise<boolean> {
    try {
      await stat(join(this.projectDir(project), digestHex(digest)));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
  }

  private projectDir(project: string): string {
    // Project names are checked where projects are made; checked again here, as they become a path.
    return join(this.claimsDir, assertValidName("project", project));
  }
}
