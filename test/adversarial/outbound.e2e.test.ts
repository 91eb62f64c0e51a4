// The daemon as a tenant's proxy into the host's network (F6 of the second security round): pulls,
// `FROM host:port/...`, registry redirects and token realms aimed at the host's own addresses and
// link-local metadata, internal answers echoed into errors, and credentials carried to another
// host by a redirect. The shared test daemon allows loopback registries (SBX_OUTBOUND_ALLOW=loopback,
// as local use needs), so the "internal service" listens on the host's primary address instead.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Image } from "@sbx-sh/sdk";
import { sharedClient } from "../fixtures.js";
import { primaryAddress } from "./helpers.js";

const client = sharedClient();
const primary = primaryAddress();

/** An HTTP server recording what reached it; `answer` decides the reply. */
class Listener {
  hits: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  private server: Server | undefined;
  port = 0;
  constructor(private readonly answer: (url: string, res: import("node:http").ServerResponse) => void) {}
  async start(host: string): Promise<void> {
    this.server = createServer((req, res) => {
      this.hits.push({ url: req.url ?? "", headers: req.headers });
      req.resume();
      this.answer(req.url ?? "", res);
    });
    await new Promise<void>((r) => this.server!.listen(0, host, r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    await new Promise((r) => this.server?.close(r));
  }
}

const SECRET_BODY = "internal-metadata-secret-4711";
const internal = new Listener((_u, res) => res.end(`{"token":"${SECRET_BODY}"}`));
const other = new Listener((_u, res) => res.writeHead(404).end());
let mode: "redirect-internal" | "realm-internal" | "realm-metadata" | "echo" | "redirect-other" = "echo";
const evil = new Listener((url, res) => {
  if (mode === "redirect-internal")
    return res.writeHead(302, { location: `http://${primary}:${internal.port}/latest` }).end();
  if (mode === "redirect-other") return res.writeHead(307, { location: `http://127.0.0.1:${other.port}${url}` }).end();
  if (mode === "realm-internal" || mode === "realm-metadata") {
    const realm =
      mode === "realm-internal" ? `http://${primary}:${internal.port}/token` : "http://169.254.169.254/token";
    return res.writeHead(401, { "www-authenticate": `Bearer realm="${realm}",service="x"` }).end();
  }
  res.writeHead(500, { "content-type": "text/plain" }).end(SECRET_BODY);
});

beforeAll(async () => {
  await internal.start("0.0.0.0");
  await other.start("127.0.0.1");
  await evil.start("127.0.0.1");
});
afterAll(async () => {
  await Promise.all([internal.stop(), other.stop(), evil.stop()]);
});

async function refusal(p: Promise<unknown>): Promise<{ code?: string; message?: string }> {
  return p.then(
    () => ({ code: "none" }),
    (e: { code?: string; message?: string }) => e,
  );
}

describe("outbound requests of the daemon", () => {
  it("refuse the host's own addresses for pulls and FROM, before connecting", async () => {
    const pull = await refusal(client.pullImage(`${primary}:${internal.port}/team/app:1`));
    expect(pull).toMatchObject({ code: "permission_denied" });
    expect(pull.message).toMatch(/this host's own address/);
    const build = await refusal(
      new Image({ name: "ssrf-from", baseImage: `${primary}:${internal.port}/team/app:1` })
        .run("true")
        .build({ client }),
    );
    expect(build).toMatchObject({ code: "permission_denied" });
    expect(internal.hits).toHaveLength(0);
  });

  it("re-check redirects and token realms against the same rule", async () => {
    for (const m of ["redirect-internal", "realm-internal", "realm-metadata"] as const) {
      mode = m;
      const r = await refusal(client.pullImage(`127.0.0.1:${evil.port}/team/app:1`));
      expect(r, m).toMatchObject({ code: "permission_denied" });
      expect(r.message).not.toContain(SECRET_BODY);
    }
    expect(internal.hits).toHaveLength(0);
  });

  it("never echo a failed answer's body, and send credentials only to their own host", async () => {
    mode = "echo";
    const echoed = await refusal(client.pullImage(`127.0.0.1:${evil.port}/team/app:1`));
    expect(echoed.code).not.toBe("none");
    expect(echoed.message).not.toContain(SECRET_BODY);
    mode = "redirect-other";
    await refusal(client.pullImage(`127.0.0.1:${evil.port}/team/app:1`, { token: "the-users-registry-token" }));
    expect(evil.hits.some((h) => h.headers.authorization === "Bearer the-users-registry-token")).toBe(true);
    expect(other.hits.length).toBeGreaterThan(0);
    expect(other.hits.every((h) => h.headers.authorization === undefined)).toBe(true);
  });
});
