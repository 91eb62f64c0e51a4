// The port proxy's framing and headers (F12, F13 of the second security round), over real sockets:
// the proxy as sbxd runs it, in front of a local HTTP server standing in for the sandbox's.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PortService } from "../services/port-service.js";
import { createPortProxy } from "./port-proxy.js";

const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
let upstream: Server;
let proxy: Server;
let proxyPort = 0;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const target = { host: "127.0.0.1", port: (upstream.address() as AddressInfo).port };
  const ports = {
    decide: async () => ({
      ok: true,
      target,
      exposure: { sandboxId: "sb-x", project: "default", port: 80, public: false, token: "t", createdAt: "" },
    }),
    track: () => undefined,
  } as unknown as PortService;
  proxy = createPortProxy(ports, { error: () => undefined } as never, 8);
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  proxyPort = (proxy.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => proxy.close(r));
  await new Promise((r) => upstream.close(r));
});

/** Sends bytes exactly as written; resolves to the first response head (status line + headers). */
function raw(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(proxyPort, "127.0.0.1");
    let got = "";
    sock.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (got.includes("\r\n\r\n")) {
        sock.destroy();
        resolve(got.slice(0, got.indexOf("\r\n\r\n")));
      }
    });
    sock.on("error", reject);
    sock.on("close", () => resolve(got));
    sock.write(text);
  });
}

const HOST = "Host: 80-sb-x.localhost\r\nX-Sbx-Token: t\r\n";

describe("port proxy", () => {
  it("redirects a query token to a path on the same host only (no //host)", async () => {
    for (const path of ["/.//evil.example/", "//evil.example/", "/\\evil.example/"]) {
      const head = await raw(`GET ${path}?sbx_token=t HTTP/1.1\r\nHost: 80-sb-x.localhost\r\n\r\n`);
      expect(head).toMatch(/^HTTP\/1\.1 303/);
      const location = /\r\nlocation: ([^\r]*)/i.exec(head)![1]!;
      expect(location, path).toMatch(/^\/(?![/\\])/);
    }
  });

  it("answers 400 to ambiguous framing and forwards nothing of it", async () => {
    const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n";
    const chunk = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
    const before = seen.length;
    expect(await raw(`GET / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n${chunk}`)).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(`GET / HTTP/1.1\r\n${HOST}Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`)).toMatch(
      /^HTTP\/1\.1 400/,
    );
    expect(
      await raw(`POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`),
    ).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(`POST / HTTP/1.1\r\n${HOST}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`)).toMatch(
      /^HTTP\/1\.1 400/,
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.slice(before)).toEqual([]);
  });

  it("sets X-Forwarded-* itself and strips hop-by-hop headers, also those Connection names", async () => {
    const before = seen.length;
    const head = await raw(
      `GET /page HTTP/1.1\r\n${HOST}X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\n` +
        `X-Real-IP: 6.6.6.6\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\n\r\n`,
    );
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    const got = seen.slice(before);
    expect(got).toHaveLength(1);
    const h = got[0]!.headers;
    expect(h["x-forwarded-for"]).toBe("127.0.0.1");
    expect(h["x-forwarded-proto"]).toBe("http");
    expect(h.forwarded).toBeUndefined();
    expect(h["x-real-ip"]).toBeUndefined();
    expect(h["x-secret"]).toBeUndefined();
    expect(h["keep-alive"]).toBeUndefined();
    expect(h["x-sbx-token"]).toBeUndefined();
  });

  it("caps the connections one client holds open (F9), and frees them as they close", async () => {
    const open = await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<Socket>((r) => {
            const s = connect(proxyPort, "127.0.0.1", () => r(s));
          }),
      ),
    );
    const extra = connect(proxyPort, "127.0.0.1");
    const closed = await new Promise<boolean>((r) => {
      extra.on("close", () => r(true));
      extra.on("error", () => undefined);
      setTimeout(() => r(false), 2000);
    });
    expect(closed).toBe(true);
    for (const s of open) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(await raw(`GET /again HTTP/1.1\r\n${HOST}\r\n`)).toMatch(/^HTTP\/1\.1 200/);
  });
});
