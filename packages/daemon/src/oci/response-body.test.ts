// readAtMost against a real HTTP server that sends a body without end, as a hostile registry may
// where a manifest or an error is expected: the read stops at its cap and the connection is let go,
// and the client refuses such a manifest, or token service answer, without reading it all.
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "./registry-client.js";
import { parseRegistryRef } from "./registry-ref.js";
import { readAtMost } from "./response-body.js";

describe("a registry answer's body", () => {
  let server: Server;
  let base: string;
  let endless: { sent: number; closed: boolean } | undefined;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/small") return res.end("small body");
      if (req.url?.startsWith("/v2/team/token/"))
        return res.writeHead(401, { "www-authenticate": `Bearer realm="http://${base}/token",service="test"` }).end();
      res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" });
      const state: { sent: number; closed: boolean } = { sent: 0, closed: false };
      endless = state;
      res.on("close", () => (state.closed = true));
      const chunk = Buffer.alloc(64 << 10, "x");
      const more = (r: ServerResponse): void => {
        while (!state.closed && state.sent < 256 << 20) {
          state.sent += chunk.length;
          if (!r.write(chunk)) return void r.once("drain", () => more(r));
        }
      };
      more(res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it("is read whole when it is within the cap", async () => {
    const got = await readAtMost((await fetch(`http://${base}/small`)) as unknown as Response, 1024);
    expect(got).toEqual({ data: Buffer.from("small body"), over: false });
  });

  it("stops at the cap of an endless body and lets the connection go", async () => {
    const got = await readAtMost((await fetch(`http://${base}/endless`)) as unknown as Response, 1 << 20);
    expect(got.over).toBe(true);
    expect(got.data.length).toBe(1 << 20);
    await expect.poll(() => endless?.closed).toBe(true);
    expect(endless!.sent).toBeLessThan(64 << 20);
  });

  it("refuses an endless manifest as larger than 4 MiB, without reading it all", async () => {
    const client = new RegistryClient(parseRegistryRef(`${base}/team/app:1`), {}, { allowLoopback: true, allow: [] });
    await expect(client.getManifest("1")).rejects.toMatchObject({
      code: "invalid_archive",
      message: expect.stringMatching(/manifest 1 is larger than 4 MiB/),
    });
    await expect.poll(() => endless?.closed).toBe(true);
    expect(endless!.sent).toBeLessThan(64 << 20);
  });

  it("refuses an endless token service answer without reading it all", async () => {
    const client = new RegistryClient(parseRegistryRef(`${base}/team/token:1`), {}, { allowLoopback: true, allow: [] });
    await expect(client.getManifest("1")).rejects.toMatchObject({
      code: "unauthenticated",
      message: expect.stringMatching(/the token service answered more than 64 KiB/),
    });
    await expect.poll(() => endless?.closed).toBe(true);
    expect(endless!.sent).toBeLessThan(64 << 20);
  });
});
