// The exec relay (node-relay.ts) against a hostile "node": a raw TCP server that answers whatever
// bytes a case gives it, behind a real HTTP server that relays every call. A malformed answer is
// upstream_unreachable for that call and its socket is dropped; bytes after an answer's end keep
// the socket from being reused; a node that closes after reading the request is node_unavailable and
// the call is not sent twice; clean answers reuse one socket, except past the node's keep-alive
// hint; a header that could smuggle a line is refused before anything is sent; a node that sends no
// head in time is node_unavailable, one that sends its head and then nothing for long is not cut. (The contract shared
// with the undici path, streaming, leases and refusals, is node-dispatch.test.ts.)
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { SbxError } from "@sbx-sh/protocol";
import type { NodeTarget } from "./node-target.js";
import { closeRelaySockets, RELAY_LIMITS, relayAnswer } from "./node-relay.js";

const servers: Array<Server | NetServer> = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) {
    if ("closeAllConnections" in s) s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});
afterAll(() => closeRelaySockets());

interface RawNode {
  port: number;
  /** Connections accepted, and requests (heads) read. */
  connections: number;
  requests: string[];
  /** The bytes to answer the next request with (undefined: close the socket instead; a function: its own way). */
  answers: Answer[];
}

type Answer = string | undefined | ((sock: Socket) => void);

/** A "node" that answers each request head it reads with the next of `answers`, raw. */
async function rawNode(answers: Answer[]): Promise<RawNode> {
  const node: RawNode = { port: 0, connections: 0, requests: [], answers };
  const s = createNetServer((sock) => {
    sockets.push(sock);
    node.connections++;
    let buf = "";
    sock.on("data", (b: Buffer) => {
      buf += b.toString("latin1");
      for (let end = buf.indexOf("\r\n\r\n"); end >= 0; end = buf.indexOf("\r\n\r\n")) {
        const head = buf.slice(0, end);
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        node.requests.push(buf.slice(0, end + 4 + length));
        buf = buf.slice(end + 4 + length);
        const answer = node.answers.shift();
        if (answer === undefined) sock.destroy();
        else if (typeof answer === "function") answer(sock);
        else sock.write(answer, "latin1");
      }
    });
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  node.port = (s.address() as { port: number }).port;
  return node;
}

/** A control plane relaying every call to `node`; each call's outcome: its status or the refusal's code and message. */
async function control(node: RawNode, extra: Record<string, string> = {}) {
  const t: NodeTarget = { node: "n7", address: `127.0.0.1:${node.port}`, key: "sbxk_n7", project: "team-a" };
  const outcomes: Array<number | { code: string; message: string }> = [];
  const front = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const call = { method: req.method ?? "POST", headers: { ...req.headers, ...extra }, body: Buffer.from("{}") };
      relayAnswer(t, call, "/v1/sandboxes/sb-1/exec", res, {}, () => () => undefined).then(
        (status) => outcomes.push(status),
        (err: SbxError) => {
          outcomes.push({ code: err.code, message: err.message });
          res.writeHead(502).end(err.code);
        },
      );
    });
  });
  servers.push(front);
  await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
  const port = (front.address() as { port: number }).port;
  const call = (): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, method: "POST", path: "/" }, (res: IncomingMessage) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end("{}");
    });
  return { call, outcomes };
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 14\r\n\r\n{"exitCode":0}';
const OK_BODY = '{"exitCode":0}';

describe("the exec relay and a hostile node", () => {
  it("clean answers reuse one socket; the node gets its key, the project, the body, never the caller's token", async () => {
    const node = await rawNode([OK, OK, OK]);
    const { call, outcomes } = await control(node, { authorization: "Bearer sbx_user" });
    for (let i = 0; i < 3; i++) expect(await call()).toEqual({ status: 200, body: OK_BODY });
    expect(outcomes).toEqual([200, 200, 200]);
    expect(node.connections).toBe(1);
    expect(node.requests[0]).toMatch(/^POST \/v1\/sandboxes\/sb-1\/exec HTTP\/1\.1\r\n/);
    expect(node.requests[0]).toContain("\r\nauthorization: Bearer sbxk_n7\r\n");
    expect(node.requests[0]).toContain("\r\nx-sbx-project: team-a\r\n");
    expect(node.requests[0]).not.toContain("sbx_user");
    expect(node.requests[0]).toContain("\r\ncontent-length: 2\r\n");
    expect(node.requests[0]).toMatch(/\r\n\r\n\{\}$/);
  });

  it("a malformed answer is upstream_unreachable for that call; the next call gets a new socket", async () => {
    const node = await rawNode(["HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nto the close", OK]);
    const { call, outcomes } = await control(node);
    expect(await call()).toEqual({ status: 502, body: "upstream_unreachable" });
    expect(outcomes[0]).toEqual({ code: "upstream_unreachable", message: expect.stringContaining("malformed answer") });
    expect(await call()).toEqual({ status: 200, body: OK_BODY });
    expect(node.connections).toBe(2);
  });

  it("a head past 16 KiB is refused, not buffered on", async () => {
    const node = await rawNode([`HTTP/1.1 200 OK\r\nx: ${"a".repeat(20_000)}\r\ncontent-length: 0\r\n\r\n`]);
    const { call, outcomes } = await control(node);
    expect((await call()).status).toBe(502);
    expect(outcomes[0]).toEqual({ code: "upstream_unreachable", message: expect.stringContaining("too large") });
  });

  it("bytes after an answer's end: the answer is passed on, the socket is not used again", async () => {
    const node = await rawNode([`${OK}HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n`, OK]);
    const { call } = await control(node);
    expect(await call()).toEqual({ status: 200, body: OK_BODY });
    expect(await call()).toEqual({ status: 200, body: OK_BODY });
    expect(node.connections).toBe(2);
  });

  it("a node that closes after reading the call is node_unavailable, and the call is not sent again", async () => {
    const node = await rawNode([undefined, OK]);
    const { call, outcomes } = await control(node);
    expect(await call()).toEqual({ status: 502, body: "node_unavailable" });
    expect(outcomes[0]).toEqual({
      code: "node_unavailable",
      message: expect.stringContaining("closed the connection before answering; the call was not sent again"),
    });
    expect(node.requests).toHaveLength(1);
    expect(await call()).toEqual({ status: 200, body: OK_BODY });
  });

  it("a socket is not reused past the node's keep-alive hint, nor after connection: close", async () => {
    const short = OK.replace("\r\n\r\n", "\r\nkeep-alive: timeout=1\r\n\r\n");
    const close = OK.replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n");
    const node = await rawNode([short, close, OK]);
    const { call } = await control(node);
    for (let i = 0; i < 3; i++) expect((await call()).status).toBe(200);
    expect(node.connections).toBe(3);
  });

  it("a header value, path or method that could smuggle a line is refused before anything is sent", async () => {
    const node = await rawNode([OK]);
    const { call, outcomes } = await control(node, { "x-a": "b\r\nx-evil: 1" });
    expect((await call()).status).toBe(502);
    expect(outcomes[0]).toMatchObject({ code: "invalid_argument" });
    expect(node.connections).toBe(0);
    const t: NodeTarget = { node: "n7", address: `127.0.0.1:${node.port}`, key: "k", project: "p" };
    const none = {} as ServerResponse;
    const watch = (): (() => void) => () => undefined;
    for (const path of ["/x HTTP/1.1\r\nx-evil: 1\r\n\r\nGET /y", "/a b", "x"])
      await expect(
        relayAnswer(t, { method: "POST", headers: {}, body: undefined }, path, none, {}, watch),
      ).rejects.toMatchObject({
        code: "invalid_argument",
      });
    await expect(
      relayAnswer(t, { method: "PO ST", headers: {}, body: undefined }, "/", none, {}, watch),
    ).rejects.toMatchObject({
      code: "invalid_argument",
    });
    expect(node.connections).toBe(0);
  });

  it("a node that takes the call and sends no head in time is node_unavailable; the call is not sent again", async () => {
    const was = RELAY_LIMITS.headMs;
    RELAY_LIMITS.headMs = 300;
    try {
      const node = await rawNode([() => undefined, OK]);
      const { call, outcomes } = await control(node);
      expect(await call()).toEqual({ status: 502, body: "node_unavailable" });
      expect(outcomes[0]).toEqual({
        code: "node_unavailable",
        message: expect.stringContaining("sent no answer within 0.3 s; the call was not sent again"),
      });
      expect(node.requests).toHaveLength(1);
      // The silent socket was dropped, not reused.
      expect(await call()).toEqual({ status: 200, body: OK_BODY });
      expect(node.connections).toBe(2);
    } finally {
      RELAY_LIMITS.headMs = was;
    }
  });

  it("once the head is in, a body that goes quiet for longer than the head's limit is not cut", async () => {
    const was = RELAY_LIMITS.headMs;
    RELAY_LIMITS.headMs = 200;
    try {
      const first = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\n{"a":1}\n\r\n';
      const node = await rawNode([
        (sock) => {
          sock.write(first, "latin1");
          setTimeout(() => sock.write('8\r\n{"b":2}\n\r\n0\r\n\r\n', "latin1"), 600);
        },
      ]);
      const { call, outcomes } = await control(node);
      expect(await call()).toEqual({ status: 200, body: '{"a":1}\n{"b":2}\n' });
      expect(outcomes).toEqual([200]);
    } finally {
      RELAY_LIMITS.headMs = was;
    }
  });
});
