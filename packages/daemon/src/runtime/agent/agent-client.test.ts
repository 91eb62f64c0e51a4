// AgentClient against fake agents that misbehave the ways code in a sandbox could make its agent
// misbehave: garbage, silence, answers to nothing asked, wrong versions, and a socket path swapped
// for a link to another host socket, a fifo or a file. Each fails that connection with
// agent_unreachable; nothing is followed, nothing else is reached.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { AgentClient, AgentRequestError } from "./agent-client.js";
import { AgentProtocolError, encode, MAX_FRAME } from "./agent-protocol.js";

let dir: string;
const servers: Server[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sbx-agent-client-"));
});
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function frame(type: number, req: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32BE(5 + body.length, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32BE(req, 5);
  return Buffer.concat([head, body]);
}
function helloReply(req: number, version = 1): Buffer {
  const name = Buffer.from("fake");
  const body = Buffer.alloc(8 + name.length);
  body.writeUInt32BE(version, 0);
  body.writeUInt32BE(name.length, 4);
  name.copy(body, 8);
  return frame(0x81, req, body);
}

/** A fake agent: `onRequest` gets each request's type and id (frames arrive whole here: they are small). */
async function fakeAgent(name: string, onRequest: (sock: Socket, type: number, req: number) => void): Promise<string> {
  const path = join(dir, name);
  const server = createServer((sock) => {
    sock.on("data", (b: Buffer) => {
      for (let off = 0; off + 9 <= b.length; off += 4 + b.readUInt32BE(off))
        onRequest(sock, b.readUInt8(off + 4), b.readUInt32BE(off + 5));
    });
    sock.on("error", () => undefined);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
  return path;
}

async function unreachable(p: Promise<unknown>): Promise<SbxError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SbxError);
  expect((err as SbxError).code).toBe("agent_unreachable");
  return err as SbxError;
}

const opts = { timeoutMs: 200 };

describe("AgentClient against hostile agents", () => {
  it("talks to a well-behaved agent, and reports its refusals per request", async () => {
    const path = await fakeAgent("ok.sock", (sock, type, req) => {
      if (type === 1) sock.write(helloReply(req));
      else {
        const msg = Buffer.from("no process x");
        const body = Buffer.alloc(8 + msg.length);
        body.writeUInt32BE(2, 0);
        body.writeUInt32BE(msg.length, 4);
        msg.copy(body, 8);
        sock.write(frame(0xff, req, body));
      }
    });
    const c = await AgentClient.connect("sb_t", path, opts);
    expect(c.version).toBe(1);
    await expect(c.request((q) => encode.status(q, "x"))).rejects.toBeInstanceOf(AgentRequestError);
    expect(c.failed).toBeUndefined();
    c.close();
  });

  it("fails only a request too large for one frame: the connection and later requests go on", async () => {
    const path = await fakeAgent("big.sock", (sock, type, req) => {
      sock.write(type === 1 ? helloReply(req) : frame(0x80, req));
    });
    const c = await AgentClient.connect("sb_t", path, opts);
    await expect(c.request((q) => encode.stdin(q, "pr_1", Buffer.alloc(MAX_FRAME)))).rejects.toBeInstanceOf(
      AgentProtocolError,
    );
    // Past the request timeout: nothing of the refused request is left to fail the connection.
    await new Promise((r) => setTimeout(r, opts.timeoutMs * 2));
    expect(c.failed).toBeUndefined();
    await expect(c.request((q) => encode.status(q, "x"))).resolves.toBeDefined();
    c.close();
  });

  it("fails the connection on garbage after the handshake", async () => {
    const path = await fakeAgent("garbage.sock", (sock, type, req) => {
      sock.write(type === 1 ? helloReply(req) : Buffer.from("\xff\xff\xff\xffHTTP/1.1 200 OK\r\n"));
    });
    const c = await AgentClient.connect("sb_t", path, opts);
    const err = await unreachable(c.request((q) => encode.status(q, "x")));
    expect(err.message).toMatch(/protocol violation/);
    // Every later call fails the same way at once.
    await unreachable(c.request((q) => encode.status(q, "y")));
  });

  it("times out an agent that never answers", async () => {
    const path = await fakeAgent("silent.sock", (sock, type, req) => {
      if (type === 1) sock.write(helloReply(req));
    });
    const c = await AgentClient.connect("sb_t", path, opts);
    expect((await unreachable(c.request((q) => encode.status(q, "x")))).message).toMatch(/no answer within/);
  });

  it("refuses an answer to a request never asked, and an unknown version", async () => {
    const liar = await fakeAgent("liar.sock", (sock, type, req) => {
      sock.write(type === 1 ? helloReply(req) : frame(0x80, req + 1000));
    });
    const c = await AgentClient.connect("sb_t", liar, opts);
    expect((await unreachable(c.request((q) => encode.status(q, "x")))).message).toMatch(/not asked/);
    const future = await fakeAgent("future.sock", (sock, _type, req) => sock.write(helloReply(req, 99)));
    await unreachable(AgentClient.connect("sb_t", future, opts));
  });

  it("never follows a link the sandbox put in the socket's place, nor opens a fifo or file there", async () => {
    let reached = 0;
    const hostSocket = await fakeAgent("host-service.sock", (sock, _type, req) => {
      reached++;
      sock.write(helloReply(req));
    });
    symlinkSync(hostSocket, join(dir, "agent.sock"));
    expect((await unreachable(AgentClient.connect("sb_t", join(dir, "agent.sock"), opts))).message).toMatch(/replaced/);
    execFileSync("mkfifo", [join(dir, "fifo.sock")]);
    writeFileSync(join(dir, "file.sock"), "x");
    for (const name of ["fifo.sock", "file.sock"])
      expect((await unreachable(AgentClient.connect("sb_t", join(dir, name), opts))).message).toMatch(/replaced/);
    await unreachable(AgentClient.connect("sb_t", join(dir, "missing.sock"), opts));
    expect(reached).toBe(0);
  });
});
