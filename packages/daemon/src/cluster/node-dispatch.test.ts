// The fast path's call to a node with undici (node-dispatch.ts) and on a raw socket (node-relay.ts, the
// same contract; its hostile-node cases are node-relay.test.ts), between real HTTP servers: a
// "control plane" whose handler forwards every call with dispatchAnswer, and a "node" behind it.
// The node gets its key, the project and the body, never the caller's credentials; its answer
// streams back line by line, named, hop-by-hop headers dropped; a refused key, an unreachable node
// or a lease lost before the head is a refusal with nothing written; a lease lost after the head,
// or a node that breaks off, breaks the caller's stream; a caller that goes away drops the node's
// side; and the watch is let go once in every case.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { closeNodePools, dispatchAnswer, type SendAnswer, type SmallCall } from "./node-dispatch.js";
import type { NodeTarget } from "./node-target.js";
import { relayAnswer } from "./node-relay.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});
afterAll(() => closeNodePools());

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as { port: number }).port;
}

interface Watched {
  /** Calls the lease watch's onLost of every call in flight. */
  lose(why: string): void;
  /** How many calls were let go of (their unwatch ran), and how many are still watched. */
  unwatched: number;
  watched: number;
  /** Each call's outcome: its status, or the refusal's code and message. */
  outcomes: Array<number | { code: string; message: string }>;
}

let send: SendAnswer = dispatchAnswer;

/** A control plane in front of the node at `port`: every call forwarded with `send`. */
async function control(port: number): Promise<{ port: number; w: Watched }> {
  const t: NodeTarget = { node: "n7", address: `127.0.0.1:${port}`, key: "sbxk_n7", project: "team-a" };
  const lost = new Set<(why: string) => void>();
  const w: Watched = {
    lose: (why) => [...lost].forEach((f) => f(why)),
    unwatched: 0,
    watched: 0,
    outcomes: [],
  };
  const front = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const call: SmallCall = {
        method: req.method ?? "GET",
        headers: req.headers,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks),
      };
      const watch = (onLost: (why: string) => void): (() => void) => {
        lost.add(onLost);
        w.watched++;
        let once = false;
        return () => {
          if (once) throw new Error("unwatched twice");
          once = true;
          lost.delete(onLost);
          w.watched--;
          w.unwatched++;
        };
      };
      send(t, call, req.url ?? "/", res, { "x-request-id": "req_1" }, watch).then(
        (status) => w.outcomes.push(status),
        (err: SbxError) => {
          w.outcomes.push({ code: err.code, message: err.message });
          res.writeHead(503).end(err.code);
        },
      );
    });
  });
  return { port: front, w };
}

function call(
  port: number,
  opts: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/v1/sandboxes/sb-1/exec?x=1",
        method: opts.method ?? "POST",
        headers: opts.headers,
      },
      resolve,
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

const text = (res: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let s = "";
    res.on("data", (c: Buffer) => (s += c.toString()));
    res.on("end", () => resolve(s));
    res.on("error", reject);
    res.on("close", () => (res.complete ? undefined : reject(new Error("broke off"))));
  });

const until = async (ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ok()).toBe(true);
};

describe.each([
  ["undici", dispatchAnswer],
  ["a raw socket", relayAnswer],
])("a call dispatched to a node with %s", (_how, sender: SendAnswer) => {
  beforeAll(() => {
    send = sender;
  });

  it("sends the node's key, the project and the body; streams the answer line by line, named, hop-by-hop dropped", async () => {
    let seen: { headers: IncomingMessage["headers"]; body: string; url: string } | undefined;
    let second!: () => void;
    const node = await listen((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen = { headers: req.headers, body, url: req.url ?? "" };
        res.writeHead(200, { "content-type": "application/x-ndjson", "x-node-says": "hi", "keep-alive": "timeout=99" });
        res.write('{"n":1}\n');
        second = () => res.end('{"n":2}\n');
      });
    });
    const { port, w } = await control(node);
    const res = await call(port, {
      body: '{"command":"true"}',
      headers: { authorization: "Bearer sbx_user", cookie: "c=1", "x-sbx-project": "mallory", "x-custom": "kept" },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers["x-sbx-node"]).toBe("n7");
    expect(res.headers["x-request-id"]).toBe("req_1");
    expect(res.headers["x-node-says"]).toBe("hi");
    expect(res.headers["keep-alive"]).not.toBe("timeout=99");
    expect(seen?.url).toBe("/v1/sandboxes/sb-1/exec?x=1");
    expect(seen?.body).toBe('{"command":"true"}');
    expect(seen?.headers.authorization).toBe("Bearer sbxk_n7");
    expect(seen?.headers["x-sbx-project"]).toBe("team-a");
    expect(seen?.headers.cookie).toBeUndefined();
    expect(seen?.headers["x-custom"]).toBe("kept");
    // The first line arrives while the node still holds the second; the call is still watched.
    const first = await new Promise<string>((r) => res.once("data", (c: Buffer) => r(c.toString())));
    expect(first).toBe('{"n":1}\n');
    expect(w.watched).toBe(1);
    const rest = text(res);
    second();
    expect(await rest).toBe('{"n":2}\n');
    await until(() => w.unwatched === 1);
    expect(w.outcomes).toEqual([200]);
    expect(w.watched).toBe(0);
  });

  it("a GET has no body; a 204 ends at once; the node's connection is kept for the next call", async () => {
    const peers = new Set<string>();
    const node = await listen((req, res) => {
      peers.add(`${req.socket.remotePort}`);
      if (req.method === "GET")
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(`{"len":"${req.headers["content-length"] ?? ""}"}`);
      else res.writeHead(204).end();
    });
    const { port, w } = await control(node);
    expect(await text(await call(port, { method: "GET" }))).toBe('{"len":""}');
    const empty = await call(port, { body: "" });
    expect(empty.statusCode).toBe(204);
    expect(await text(empty)).toBe("");
    await until(() => w.unwatched === 2);
    expect(w.outcomes).toEqual([200, 204]);
    expect(peers.size).toBe(1);
  });

  it("a node's 401 is its refusal of this control plane's key, with nothing of its answer passed on", async () => {
    const node = await listen((_req, res) => res.writeHead(401, { "content-type": "application/json" }).end("{}"));
    const { port, w } = await control(node);
    const res = await call(port, { body: "{}" });
    expect(res.statusCode).toBe(503);
    expect(res.headers["x-sbx-node"]).toBeUndefined();
    expect(w.outcomes).toEqual([
      { code: "node_unavailable", message: expect.stringContaining("refused this control plane's key") },
    ]);
    expect(w.unwatched).toBe(1);
  });

  it("an unreachable node is node_unavailable", async () => {
    const closed = await listen(() => undefined);
    await new Promise<void>((r) => servers.pop()!.close(() => r()));
    const { port, w } = await control(closed);
    const res = await call(port, { body: "{}" });
    expect(res.statusCode).toBe(503);
    expect(w.outcomes).toEqual([{ code: "node_unavailable", message: expect.stringContaining("is unreachable") }]);
    expect(w.unwatched).toBe(1);
  });

  it("a lease lost before the head is a refusal; after the head it breaks the caller's stream and drops the node's side", async () => {
    const nodeGone: string[] = [];
    let answer = false;
    let received = 0;
    const node = await listen((req, res) => {
      received++;
      req.on("close", () => nodeGone.push(req.url ?? ""));
      if (answer) {
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        res.write('{"n":1}\n');
      }
    });
    const { port, w } = await control(node);
    const before = call(port, { body: "{}" });
    // Lost once the node has the call (before that, there is no node side to drop).
    await until(() => w.watched === 1 && received === 1);
    w.lose("node n7 stopped renewing its lease");
    const refused = await before;
    expect(refused.statusCode).toBe(503);
    expect(w.outcomes[0]).toEqual({
      code: "node_unavailable",
      message: "node n7 stopped renewing its lease: try again once it is back",
    });
    await until(() => nodeGone.length === 1);

    answer = true;
    const res = await call(port, { body: "{}" });
    expect(res.statusCode).toBe(200);
    const rest = text(res);
    w.lose("node n7 was revoked");
    await expect(rest).rejects.toThrow();
    await until(() => nodeGone.length === 2);
    expect(w.unwatched).toBe(2);
    expect(w.watched).toBe(0);
  });

  it("a node that breaks off breaks the caller's stream; a caller that goes away drops the node's side", async () => {
    const nodeGone: string[] = [];
    const node = await listen((req, res) => {
      req.on("close", () => nodeGone.push(req.url ?? ""));
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      res.write('{"n":1}\n');
      if (req.headers["x-break"]) setTimeout(() => res.destroy(), 20);
    });
    const { port, w } = await control(node);
    const broken = await call(port, { body: "{}", headers: { "x-break": "1" } });
    await expect(text(broken)).rejects.toThrow();
    await until(() => w.unwatched === 1);

    const res = await call(port, { body: "{}" });
    await new Promise((r) => res.once("data", r));
    res.destroy();
    await until(() => nodeGone.length === 2);
    await until(() => w.unwatched === 2);
    expect(w.watched).toBe(0);
  });
});
