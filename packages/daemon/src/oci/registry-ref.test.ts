// Registry references: what counts as one (a host with a dot, a port or localhost), tags and digests.
import { describe, expect, it } from "vitest";
import { isRegistryRef, parseRegistryRef } from "./registry-ref.js";

const D = `sha256:${"a".repeat(64)}`;

describe("registry references", () => {
  it("parses host, repository, tag and digest", () => {
    expect(parseRegistryRef("localhost:5000/team/web:2")).toEqual({
      registry: "localhost:5000",
      repository: "team/web",
      tag: "2",
      digest: null,
    });
    expect(parseRegistryRef("127.0.0.1:5000/x")).toEqual({
      registry: "127.0.0.1:5000",
      repository: "x",
      tag: "latest",
      digest: null,
    });
    expect(parseRegistryRef(`registry.example.com/a/b@${D}`)).toEqual({
      registry: "registry.example.com",
      repository: "a/b",
      tag: null,
      digest: D,
    });
    expect(parseRegistryRef("localhost/web:v1.2")).toMatchObject({ registry: "localhost", tag: "v1.2" });
  });

  it("tells registry references from local image names", () => {
    for (const local of ["debian-minimal", "web:2", "team/web:2", "python:3.12", "sha256:abc"])
      expect(isRegistryRef(local), local).toBe(false);
    for (const remote of ["localhost:5000/web", "ghcr.io/org/img:1", "[::1]:5000/x"])
      expect(isRegistryRef(remote), remote).toBe(true);
  });

  it("refuses malformed references with a clear error", () => {
    for (const bad of ["localhost:5000/Upper", "localhost:5000/a//b", "localhost:5000/a:b:c", "web"]) {
      expect(() => parseRegistryRef(bad), bad).toThrow(/not a registry reference/);
    }
  });
});

describe("blob paths", () => {
  it("never leave the layout: a digest from a manifest is checked before it names a file", async () => {
    const { blobPath } = await import("./layout.js");
    expect(blobPath("/l", `sha256:${"a".repeat(64)}`)).toBe(`/l/blobs/sha256/${"a".repeat(64)}`);
    for (const d of ["sha256:/../../../../etc/passwd", `sha256:${"a".repeat(63)}/`, "md5:abc"]) {
      expect(() => blobPath("/l", d)).toThrow(expect.objectContaining({ code: "invalid_archive" }));
    }
  });
});
