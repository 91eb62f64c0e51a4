// The control plane's port relay over real sockets: relayed to a node's port proxy over TLS
// verified against --node-ca (requests and upgrades), refused clearly when the node's certificate
// comes from another CA, and bounded like the port proxy: connections per client, a node that
// never accepts (connect timeout) and one that accepts and then says nothing (idle timeout).
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer as createHttpsServer } from "node:https";
import { connect, createServer as createTcpServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import { makeTestCerts, type TestCerts } from "../testing/test-certs.js";
import { createClusterPortRelay, type RelayLimits } from "./cluster-port-relay.js";

let certs: TestCerts;
const closers: Array<() => Promise<unknown>> = [];
const held: Socket[] = [];

/** Listens on a free loopback port; closed after all tests. */
async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise((r) => server.close(r)));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A node's port proxy over TLS with `cert`: answers requests with their Host, and echoes after an upgrade. */
async function nodeProxy(cert: string, key: string): Promise<string> {
  const server = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    res.end(`node saw ${req.headers.host} ${req.url}`);
  });
  server.on("upgrade", (_req, socket: Socket) => {
    socket.write("HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n");
    socket.on("data", (d: Buffer) => socket.write(`echo:${d.toString()}`));
  });
  return listen(server);
}

/** A node that accepts TCP and then says nothing (no TLS handshake, no HTTP answer). */
async function silentNode(): Promise<string> {
  const server = createTcpServer((s) => {
    held.push(s);
    s.on("error", () => undefined);
  });
  return listen(server);
}

/** A relay whose only sandbox, sb-1, runs on a node whose port proxy is at `proxyAddress`. */
async function relay(proxyAddress: string, ca: Buffer | undefined, limits: RelayLimits = {}): Promise<number> {
  const routing = {
    directory: { locateId: async (id: string) => (id === "sb-1" ? { sandboxId: id, node: "n1", proxyAddress } : null) },
    ...(ca ? { nodeCa: ca } : {}),
  } as unknown as ClusterRouting;
  const server = createClusterPortRelay({ routing }, "localhost", { error: () => undefined } as never, limits);
  return Number((await listen(server)).split(":")[1]);
}

/** Sends `head` to the relay; resolves with everything it answered until it closed the connection. */
function raw(port: number, head: string, then?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let got = "";
    sock.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (then && got.includes("\r\n\r\n") && !got.includes("echo:")) sock.write(then);
      if (got.includes("echo:")) sock.end();
    });
    sock.on("error", reject);
    sock.on("close", () => resolve(got));
    sock.write(head);
  });
}

const GET = "GET /index.html HTTP/1.1\r\nHost: 8080-sb-1.localhost\r\nconnection: close\r\n\r\n";
const UPGRADE = "GET /ws HTTP/1.1\r\nHost: 8080-sb-1.localhost\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n";

beforeAll(() => {
  certs = makeTestCerts("sbx-relay-");
});
afterAll(async () => {
  for (const s of held) s.destroy();
  for (const close of closers) await close();
  await rm(certs.dir, { recursive: true, force: true });
});

describe("cluster port relay", () => {
  it("relays requests and upgrades to the node's port proxy over TLS verified against --node-ca", async () => {
    const port = await relay(await nodeProxy(certs.cert, certs.key), readFileSync(certs.ca));
    const answer = await raw(port, GET);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain("node saw 8080-sb-1.localhost /index.html");
    const upgraded = await raw(port, UPGRADE, "hello");
    expect(upgraded).toMatch(/^HTTP\/1\.1 101/);
    expect(upgraded).toContain("echo:hello");
  });

  it("refuses a node whose certificate another CA signed, saying so, for requests and upgrades", async () => {
    const port = await relay(await nodeProxy(certs.rogueCert, certs.rogueKey), readFileSync(certs.ca));
    for (const head of [GET, UPGRADE]) {
      const answer = await raw(port, head);
      expect(answer).toMatch(/^HTTP\/1\.1 503/);
      expect(answer).toContain('"code":"node_unavailable"');
      expect(answer).toMatch(/TLS certificate does not verify against the control plane's --node-ca/);
    }
  });

  it("gives up on a node that never completes the connection, and on one that then says nothing", async () => {
    const silent = await silentNode();
    const tls = await relay(silent, readFileSync(certs.ca), { connectMs: 200 });
    for (const head of [GET, UPGRADE]) {
      const answer = await raw(tls, head);
      expect(answer).toMatch(/^HTTP\/1\.1 503/);
      expect(answer).toMatch(/no connection in 200 ms/);
    }
    const plain = await relay(silent, undefined, { idleMs: 200 });
    const answer = await raw(plain, GET);
    expect(answer).toMatch(/^HTTP\/1\.1 503/);
    expect(answer).toMatch(/nothing moved for 200 ms/);
    // An upgraded connection the node stops answering is closed too (raw resolves on close).
    const idleUpgrade = await relay(await nodeProxy(certs.cert, certs.key), readFileSync(certs.ca), { idleMs: 200 });
    const quiet = await new Promise<string>((resolve) => {
      const sock = connect(idleUpgrade, "127.0.0.1");
      let got = "";
      sock.on("data", (d: Buffer) => (got += d.toString()));
      sock.on("close", () => resolve(got));
      sock.write(UPGRADE);
    });
    expect(quiet).toMatch(/^HTTP\/1\.1 101/);
  });

  it("caps the connections one client holds open, like the port proxy", async () => {
    const port = await relay(await nodeProxy(certs.cert, certs.key), readFileSync(certs.ca), { maxPerClient: 2 });
    const open = await Promise.all(
      [1, 2].map(
        () =>
          new Promise<Socket>((r) => {
            const s = connect(port, "127.0.0.1", () => r(s));
          }),
      ),
    );
    const extra = await raw(port, GET).catch(() => "");
    expect(extra).toBe("");
    for (const s of open) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(await raw(port, GET)).toMatch(/^HTTP\/1\.1 200/);
  });
});
