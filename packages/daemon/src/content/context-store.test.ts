// Unit tests of the build context store: one blob per digest, visible only to the projects that uploaded it.
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ContextStore } from "./context-store.js";

const sha = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("ContextStore", () => {
  let dir: string;
  let store: ContextStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sbx-contexts-"));
    store = new ContextStore(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("shows a context only to the projects that uploaded it, and stores its bytes once", async () => {
    const tar = Buffer.from("the files of a copy step");
    const digest = sha(tar);
    await store.put("alpha", tar, { expect: digest });
    expect(await store.stat("alpha", digest)).toEqual({ digest, size: tar.length });
    expect(await store.has("beta", digest)).toBe(false);
    expect(await store.stat("beta", digest)).toBeUndefined();

    await store.put("beta", tar, { expect: digest });
    expect(await store.has("beta", digest)).toBe(true);
    expect(await readdir(join(dir, "blobs", "sha256"))).toHaveLength(1);
  });

  it("claims nothing when the upload does not match its digest", async () => {
    const digest = sha(Buffer.from("expected"));
    await expect(store.put("alpha", Buffer.from("other bytes"), { expect: digest })).rejects.toMatchObject({
      code: "invalid_argument",
    });
    expect(await store.has("alpha", digest)).toBe(false);
  });

  it("forgets a deleted project's claims, so a project made later under its name sees none", async () => {
    const tar = Buffer.from("files");
    await store.put("gone", tar);
    await store.forgetProject("gone");
    expect(await store.has("gone", sha(tar))).toBe(false);
  });

  it("refuses a project name that is not one before it becomes a path", async () => {
    await expect(store.has("../alpha", sha(Buffer.from("x")))).rejects.toMatchObject({ code: "invalid_name" });
  });
});
