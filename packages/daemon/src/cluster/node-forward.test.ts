// Forwarding a call to a node: the caller's credentials and project header never go on (the node
// gets its own key and the authenticated project), bodies stream both ways, and a node
// that refuses the connection is node_unavailable naming it.
import { createServer, type IncomingMessage, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { answerResponse, forwardHttp, requestNode } from "./node-forward.js";
import { nodeHeaders, type NodeTarget } from "./node-target.js";

let server: Server;
let seen: { headers: IncomingMessage["headers"]; body: string; url: string } | undefined;
let target: NodeTarget;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen = { headers: req.headers, body, url: req.url ?? "" };
      res.writeHead(201, { "content-type": "application/x-ndjson", connection: "keep-alive" });
      res.write('{"n":1}\n');
      setTimeout(() => res.end('{"n":2}\n'), 20);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  target = { node: "n7", address: `127.0.0.1:${port}`, key: "sbxk_n7", project: "team-a" };
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("forwarding to a node", () => {
  it("replaces the caller's credentials and project with the node's key and the authenticated project", () => {
    const h = nodeHeaders(
      target,
      new Headers({
        authorization: "Bearer sbx_user_token",
        cookie: "sbx_session=abc",
        "x-sbx-project": "someone-else",
        "content-type": "application/json",
      }),
    );
    expect(h).toEqual({
      authorization: "Bearer sbxk_n7",
      "x-sbx-project": "team-a",
      "content-type": "application/json",
    });
  });

  it("streams the request body to the node and the node's answer back, with the node named", async () => {
    const req = new Request("http://control/v1/sandboxes/sb-1/files?path=/x", {
      method: "PUT",
      headers: { authorization: "Bearer sbx_user_token", "content-type": "application/octet-stream" },
      body: new Blob(["hello ", "node"]).stream(),
      duplex: "half",
    } as RequestInit);
    const res = await forwardHttp(target, req, "/v1/sandboxes/sb-1/files?path=/x");
    expect(res.status).toBe(201);
    expect(res.headers.get("x-sbx-node")).toBe("n7");
    expect(res.headers.get("connection")).toBeNull();
    expect(await res.text()).toBe('{"n":1}\n{"n":2}\n');
    expect(seen).toMatchObject({ body: "hello node", url: "/v1/sandboxes/sb-1/files?path=/x" });
    expect(seen!.headers.authorization).toBe("Bearer sbxk_n7");
    expect(seen!.headers["x-sbx-project"]).toBe("team-a");
  });

  it("an answer cancelled unread while the node's bytes wait in its buffer ends quietly", async () => {
    const big = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      for (let i = 0; i < 3; i++) res.write(`${JSON.stringify({ line: i })}\n`);
      res.end();
    });
    await new Promise<void>((r) => big.listen(0, "127.0.0.1", r));
    try {
      const at = { ...target, address: `127.0.0.1:${(big.address() as { port: number }).port}` };
      const ans = await requestNode(at, new Request("http://control/v1/sandboxes/sb-1"), "/v1/sandboxes/sb-1");
      // The whole answer arrives before anyone reads it (as when the caller awaits something first).
      await new Promise((r) => setTimeout(r, 50));
      let ends = 0;
      // Cancelled unread, as a caller that only wanted the status does (content-control.ts).
      await answerResponse(at, "GET", ans, () => ends++).body!.cancel();
      // Buffered chunks still flow out of the destroyed answer: none may reach the closed stream.
      await new Promise((r) => setTimeout(r, 50));
      expect(ends).toBe(1);
    } finally {
      await new Promise<void>((r) => big.close(() => r()));
    }
  });

  it("a node's 401 (it holds no key, or another) is node_unavailable for the caller, never unauthenticated", async () => {
    const refusing = createServer((req, res) => {
      req.resume();
      res.writeHead(401, { "content-type": "application/json" });
      res.end('{"error":{"code":"unauthenticated","message":"no"}}');
    });
    await new Promise<void>((r) => refusing.listen(0, "127.0.0.1", r));
    try {
      const at = { ...target, address: `127.0.0.1:${(refusing.address() as { port: number }).port}` };
      const err = await forwardHttp(at, new Request("http://control/v1/sandboxes/sb-1"), "/v1/sandboxes/sb-1").catch(
        (e: unknown) => e,
      );
      expect((err as SbxError).code).toBe("node_unavailable");
      expect((err as SbxError).message).toMatch(/node n7 .* refused this control plane's key/);
    } finally {
      await new Promise<void>((r) => refusing.close(() => r()));
    }
  });

  it("a node that refuses the connection is node_unavailable, naming it", async () => {
    const down = { ...target, address: "127.0.0.1:1" };
    const err = await forwardHttp(down, new Request("http://control/v1/sandboxes/sb-1"), "/v1/sandboxes/sb-1").catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SbxError);
    expect((err as SbxError).code).toBe("node_unavailable");
    expect((err as SbxError).message).toMatch(/node n7 \(127\.0\.0\.1:1\) is unreachable/);
  });
});
