// File names that are not UTF-8, on the real daemon: a sandbox makes `caf\351` (Latin-1), a listing
// shows it as text with U+FFFD plus its bytes (`nameBase64`), and those bytes address it again
// (`pathBase64`, a Uint8Array path in the SDK): read, write, list inside, delete. What a user saw
// listed, they can act on.
import { describe, expect, it } from "vitest";
import { entryPath } from "@sbx-sh/sdk";
import { sharedClient, useSandbox } from "./fixtures.js";

const client = sharedClient();
const sandbox = useSandbox();
const latin1 = (s: string): Buffer => Buffer.from(s, "latin1");

describe("a file name that is not UTF-8", () => {
  it("is listed with its bytes, and read, listed into, written and deleted by them", async () => {
    const sb = sandbox();
    const made = await sb.run("sh", {
      args: [
        "-c",
        `mkdir -p /nu && cd /nu && printf latin > "$(printf 'caf\\351')" && mkdir "$(printf 'd\\377')" && touch ok`,
      ],
    });
    expect(made.exitCode).toBe(0);
    const listing = await sb.listDirectory("/nu");
    expect(listing.entries.map((e) => [e.name, e.nameBase64])).toEqual([
      ["caf\uFFFD", latin1("caf\xe9").toString("base64")],
      ["d\uFFFD", latin1("d\xff").toString("base64")],
      ["ok", undefined],
    ]);
    const [file, dir] = listing.entries;
    const filePath = entryPath("/nu", file!);
    expect(Buffer.from(filePath as Uint8Array)).toEqual(latin1("/nu/caf\xe9"));
    expect((await sb.readFile(filePath)).toString()).toBe("latin");
    // The text form names another file (U+FFFD is three other bytes): not found, never the wrong one.
    await expect(sb.readFile("/nu/caf\uFFFD")).rejects.toMatchObject({ code: "file_not_found" });

    const dirPath = entryPath("/nu", dir!);
    await sb.writeFile(entryPath(dirPath, { name: "inner" }), "in");
    const inner = await sb.listDirectory(dirPath);
    expect(inner.entries.map((e) => e.name)).toEqual(["inner"]);
    expect(inner.path).toBe("/nu/d\uFFFD");
    expect((await sb.run("sh", { args: ["-c", `cat "$(printf '/nu/d\\377/inner')"`] })).stdout).toBe("in");

    await sb.deleteFile(filePath);
    await sb.deleteFile(dirPath, { recursive: true });
    expect((await sb.listDirectory("/nu")).entries.map((e) => e.name)).toEqual(["ok"]);
  });

  it("takes pathBase64 only as canonical base64, and only instead of path", async () => {
    const sb = sandbox();
    const files = `/v1/sandboxes/${sb.id}/files`;
    const get = (query: { path?: string; pathBase64?: string }) => client.transport.send("GET", files, { query });
    for (const query of [
      { pathBase64: "not base64!" },
      { pathBase64: "L25" },
      { path: "/nu/ok", pathBase64: "L251L29r" },
      {},
    ])
      await expect(get(query)).rejects.toMatchObject({ code: "invalid_argument" });
  });
});
