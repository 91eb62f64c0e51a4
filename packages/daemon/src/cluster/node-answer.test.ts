// A node's answer written straight into the caller's connection: streamed line by line with the
// node named and the control plane's own headers added, hop-by-hop headers dropped; a node answer
// that breaks off breaks the caller's too; a caller that goes away drops the node's side; and the
// end hook runs once in every case.
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { pipeAnswer } from "./node-answer.js";
import { requestNode } from "./node-forward.js";
import { type NodeTarget } from "./node-target.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as { port: number }).port;
}

/** A control plane in front of `node`: every call is forwarded and answered with pipeAnswer. */
async function control(node: number, ends: string[], signal?: AbortSignal): Promise<number> {
  const t: NodeTarget = { node: "n7", address: `127.0.0.1:${node}`, key: "sbxk_n7", project: "team-a" };
  return listen((req, res) => {
    const headers = new Headers(req.headers as Record<string, string>);
    const forwarded = new Request(`http://control${req.url}`, { headers });
    void requestNode(t, forwarded, req.url ?? "/", signal ? { signal } : {}).then((ans) =>
      pipeAnswer(t, req.method ?? "GET", ans, res, { "x-request-id": "req_1" }, () => ends.push(req.url ?? "")),
    );
  });
}

function call(port: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => get({ host: "127.0.0.1", port, path: "/v1/x" }, resolve).on("error", reject));
}

describe("a node's answer piped to the caller", () => {
  it("streams each line as it comes, the node named and the request id added, hop-by-hop headers dropped", async () => {
    let second!: () => void;
    const node = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/x-ndjson", "keep-alive": "timeout=99" });
      res.write('{"n":1}\n');
      second = () => res.end('{"n":2}\n');
    });
    const ends: string[] = [];
    const res = await call(await control(node, ends));
    expect(res.headers["x-sbx-node"]).toBe("n7");
    expect(res.headers["x-request-id"]).toBe("req_1");
    expect(res.headers["content-type"]).toBe("application/x-ndjson");
    expect(res.headers["keep-alive"]).not.toBe("timeout=99");
    // The first line arrives while the node still holds the second.
    const first = await new Promise<string>((r) => res.once("data", (c: Buffer) => r(c.toString())));
    expect(first).toBe('{"n":1}\n');
    expect(ends).toEqual([]);
    let rest = "";
    res.on("data", (c: Buffer) => (rest += c.toString()));
    const done = new Promise((r) => res.once("end", r));
    second();
    await done;
    expect(rest).toBe('{"n":2}\n');
    expect(ends).toEqual(["/v1/x"]);
  });

  it("a node answer that breaks off breaks the caller's, and the end hook runs once", async () => {
    const node = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      res.write('{"n":1}\n');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const ends: string[] = [];
    const res = await call(await control(node, ends));
    const outcome = await new Promise<string>((r) => {
      res.resume();
      res.once("end", () => r("ended"));
      res.once("aborted", () => r("aborted"));
      res.once("error", () => r("aborted"));
    });
    expect(outcome).toBe("aborted");
    await new Promise((r) => setTimeout(r, 20));
    expect(ends).toEqual(["/v1/x"]);
  });

  it("a call aborted mid-answer (its node lost) breaks the caller's answer, and the process lives on", async () => {
    const node = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      res.write('{"n":1}\n');
    });
    const ends: string[] = [];
    const lost = new AbortController();
    const res = await call(await control(node, ends, lost.signal));
    await new Promise((r) => res.once("data", r));
    const outcome = new Promise<string>((r) => {
      res.once("end", () => r("ended"));
      res.once("aborted", () => r("aborted"));
      res.once("error", () => r("aborted"));
    });
    lost.abort("node n7 stopped renewing its lease");
    expect(await outcome).toBe("aborted");
    expect(ends).toEqual(["/v1/x"]);
  });

  it("a caller that goes away drops the node's side, and the end hook runs once", async () => {
    let nodeSide!: ServerResponse;
    const node = await listen((_req, res) => {
      nodeSide = res;
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      res.write('{"n":1}\n');
    });
    const ends: string[] = [];
    const res = await call(await control(node, ends));
    await new Promise((r) => res.once("data", r));
    const nodeClosed = new Promise((r) => nodeSide.once("close", r));
    res.destroy();
    await nodeClosed;
    expect(nodeSide.writableFinished).toBe(false);
    expect(ends).toEqual(["/v1/x"]);
  });
});
