// Which requests the control plane's fast path takes (planOf): only the listed calls, with a plain
// head; everything else is the app's. The whole path, against a real fleet, is
// test/cluster-fast-path.e2e.test.ts.
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { planOf } from "./cluster-fast-path.js";

const req = (method: string, url: string, headers: Record<string, string> = {}): IncomingMessage =>
  ({ method, url, headers: { host: "localhost", ...headers } }) as unknown as IncomingMessage;
const post = (url: string, headers: Record<string, string> = {}): IncomingMessage =>
  req("POST", url, { "content-length": "40", ...headers });

describe("planOf", () => {
  it("takes the listed calls, with their route template and the query as the URL parser writes it", () => {
    expect(planOf(post("/v1/sandboxes/sb_1/exec"))).toEqual({
      sandbox: "sb_1",
      rest: "/exec",
      query: "",
      route: "/v1/sandboxes/:id/exec",
      length: 40,
    });
    expect(planOf(req("GET", "/v1/sandboxes/my-box.1"))?.route).toBe("/v1/sandboxes/:id");
    expect(planOf(req("GET", "/v1/sandboxes/b/processes/p_1/output?follow=1&x=a'b"))).toMatchObject({
      route: "/v1/sandboxes/:id/processes/:pid/output",
      query: "?follow=1&x=a%27b",
      length: 0,
    });
    expect(planOf(post("/v1/sandboxes/b/processes/p_1/signal"))?.route).toBe("/v1/sandboxes/:id/processes/:pid/signal");
    expect(planOf(req("GET", "/v1/sandboxes/b/files/list?path=/"))?.route).toBe("/v1/sandboxes/:id/files/list");
  });

  it("leaves to the app what it does not list: creates, terminates, suspends, snapshots, uploads, stdin, prune", () => {
    for (const [m, u] of [
      ["POST", "/v1/sandboxes"],
      ["GET", "/v1/sandboxes"],
      ["DELETE", "/v1/sandboxes/b"],
      ["PATCH", "/v1/sandboxes/b"],
      ["POST", "/v1/sandboxes/b/suspend"],
      ["POST", "/v1/sandboxes/b/resume"],
      ["POST", "/v1/sandboxes/b/snapshot"],
      ["POST", "/v1/sandboxes/b/copy"],
      ["PUT", "/v1/sandboxes/b/files"],
      ["POST", "/v1/sandboxes/b/processes/p/stdin"],
      ["GET", "/v1/sandboxes/b/terminals/t/attach"],
      ["GET", "/v1/sandboxes/prune"],
      ["GET", "/v1/snapshots/s"],
      ["GET", "/v1/sandboxes/b/exec"],
    ])
      expect(planOf(req(m!, u!, m === "GET" ? {} : { "content-length": "2" })), `${m} ${u}`).toBeUndefined();
  });

  it("leaves odd paths to the app: dot segments, %-escapes, trailing slashes, absolute targets", () => {
    for (const u of [
      "/v1/sandboxes/b/../b/exec",
      "/v1/sandboxes/./exec",
      "/v1/sandboxes/%2e%2e/exec",
      "/v1/sandboxes/b%31/exec",
      "/v1/sandboxes/b/exec/",
      "/v1//sandboxes/b/exec",
      "http://localhost/v1/sandboxes/b/exec",
      "/v1/sandboxes/.hidden/exec",
    ])
      expect(planOf(post(u)), u).toBeUndefined();
  });

  it("leaves odd heads to the app: upgrades, Expect, no or an odd Host, streamed, undeclared or big bodies", () => {
    const u = "/v1/sandboxes/b/exec";
    expect(planOf(post(u, { upgrade: "websocket" }))).toBeUndefined();
    expect(planOf(post(u, { expect: "100-continue" }))).toBeUndefined();
    expect(planOf(req("POST", u, { host: "", "content-length": "2" }))).toBeUndefined();
    expect(planOf(post(u, { host: "LOCALHOST" }))).toBeUndefined();
    expect(planOf(post(u, { host: "[::1]:80" }))).toBeUndefined();
    expect(planOf(post(u, { "transfer-encoding": "chunked" }))).toBeUndefined();
    expect(planOf(req("POST", u))).toBeUndefined();
    expect(planOf(post(u, { "content-length": String(64 * 1024 + 1) }))).toBeUndefined();
    expect(planOf(post(u, { "content-length": "1e3" }))).toBeUndefined();
    expect(planOf(req("GET", "/v1/sandboxes/b", { "content-length": "3" }))).toBeUndefined();
    expect(planOf(post(u, { "content-length": String(64 * 1024) }))?.length).toBe(64 * 1024);
    expect(planOf(post(u, { host: "10.0.0.1:7070" }))).toBeDefined();
  });
});
