// The headers a call to a node carries (node-target.ts), from the HTTP server's own head as the
// control plane's fast path passes it: the caller's hop-by-hop headers and credentials dropped
// whatever their case, repeated values joined as web Headers join them, only the object's own keys.
import type { IncomingHttpHeaders } from "node:http";
import { describe, expect, it } from "vitest";
import { nodeHeaders, type NodeTarget } from "./node-target.js";

const target: NodeTarget = { node: "n7", address: "127.0.0.1:1", key: "sbxk_n7", project: "team-a" };

describe("nodeHeaders from the HTTP server's head", () => {
  it("drops hop-by-hop headers and the caller's credentials, joins repeats, gives the node's key and project", () => {
    const from: IncomingHttpHeaders = {
      host: "control:7000",
      authorization: "Bearer sbx_user_token",
      cookie: "sbx_session=abc",
      "x-sbx-project": "someone-else",
      connection: "keep-alive",
      "transfer-encoding": "chunked",
      "content-type": "application/json",
      "x-forwarded-for": ["10.0.0.1", "10.0.0.2"] as unknown as string,
      accept: undefined,
    };
    // A hand-built head may carry names in any case: still dropped.
    Object.assign(from, { Connection: "close", "Proxy-Authorization": "Basic eA==" });
    expect(nodeHeaders(target, from)).toEqual({
      "content-type": "application/json",
      "x-forwarded-for": "10.0.0.1, 10.0.0.2",
      authorization: "Bearer sbxk_n7",
      "x-sbx-project": "team-a",
    });
  });

  it("takes only the head's own keys, not ones inherited from its prototype", () => {
    const from = Object.create({ "x-inherited": "no" }) as IncomingHttpHeaders;
    from["x-own"] = "yes";
    expect(nodeHeaders(target, from)).toEqual({
      "x-own": "yes",
      authorization: "Bearer sbxk_n7",
      "x-sbx-project": "team-a",
    });
  });

  it("extra headers of the call win over the caller's; the key and project over both", () => {
    const t = { ...target, extraHeaders: { host: "sb.example", "x-a": "extra" } };
    expect(nodeHeaders(t, { "x-a": "caller", authorization: "Bearer x" })).toEqual({
      "x-a": "extra",
      host: "sb.example",
      authorization: "Bearer sbxk_n7",
      "x-sbx-project": "team-a",
    });
  });
});
