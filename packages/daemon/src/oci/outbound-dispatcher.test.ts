// DNS rebinding against the daemon's outbound requests: a name that answers a public address to the
// policy check and a loopback one to the connection must not reach the loopback service. The
// resolver is injected; the registry is a real HTTP server on 127.0.0.1 that counts its requests.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkedLookup } from "./outbound-dispatcher.js";
import { parseOutboundAllow, type Resolver } from "./outbound.js";
import { RegistryClient } from "./registry-client.js";
import { parseRegistryRef } from "./registry-ref.js";

let server: Server;
let port: number;
let hits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits++;
    res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" });
    res.end('{"schemaVersion":2}');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Answers `first` to the first query and `then` to every later one; counts queries. */
function flipping(first: string[], then: string[]): Resolver & { queries: number } {
  const r = Object.assign(
    async (): Promise<string[]> => {
      r.queries++;
      return r.queries === 1 ? first : then;
    },
    { queries: 0 },
  );
  return r;
}

describe("outbound connections and DNS rebinding", () => {
  it("a name that flips from public to loopback between the check and the connect reaches nothing", async () => {
    const resolve = flipping(["203.0.113.7"], ["127.0.0.1"]);
    const client = new RegistryClient(
      parseRegistryRef(`rebind.test:${port}/team/app:1`),
      { insecure: true },
      parseOutboundAllow(""),
      resolve,
    );
    const before = hits;
    await expect(client.getManifest("1")).rejects.toMatchObject({ code: "permission_denied" });
    expect(hits).toBe(before);
    // The check and the connection each resolved: the connection saw (and refused) the flip.
    expect(resolve.queries).toBe(2);
  });

  it("connects to the addresses it checked when the policy allows them", async () => {
    const resolve = flipping(["127.0.0.1"], ["127.0.0.1"]);
    const client = new RegistryClient(
      parseRegistryRef(`rebind.test:${port}/team/app:1`),
      { insecure: true },
      parseOutboundAllow("loopback"),
      resolve,
    );
    const before = hits;
    const m = await client.getManifest("1");
    expect(m.data.toString()).toBe('{"schemaVersion":2}');
    expect(hits).toBe(before + 1);
  });

  it("refuses an answer with any forbidden address and passes on only checked ones", async () => {
    const deny = parseOutboundAllow("");
    const lookup = (answer: string[], all: boolean) =>
      new Promise<unknown>((resolve, reject) =>
        (
          checkedLookup(deny, "test", async () => answer) as unknown as (
            h: string,
            o: object,
            cb: (e: Error | null, a: unknown) => void,
          ) => void
        )("x.test", { all }, (e, a) => (e ? reject(e) : resolve(a))),
      );
    await expect(lookup(["203.0.113.7", "169.254.169.254"], true)).rejects.toMatchObject({
      code: "permission_denied",
    });
    await expect(lookup(["10.0.0.1"], false)).rejects.toMatchObject({ code: "permission_denied" });
    expect(await lookup(["203.0.113.7", "2001:db8::1"], true)).toEqual([
      { address: "203.0.113.7", family: 4 },
      { address: "2001:db8::1", family: 6 },
    ]);
    expect(await lookup(["203.0.113.7"], false)).toBe("203.0.113.7");
  });
});
