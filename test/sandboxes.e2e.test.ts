// Sandbox lifecycle through the real daemon: create, run, list, get, terminate, timeouts, and the
// errors bad input gets (with nothing changed).
import { describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { waitFor } from "./harness.js";

const client = sharedClient();
const sandbox = useSandboxes(client);
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SbxError) return err.code;
    throw err;
  }
  throw new Error("expected an error");
}

describe("sandboxes", () => {
  it("creates a running sandbox from debian-minimal and runs a command with its exit code", async () => {
    const sb = await sandbox();
    const info = await sb.info();
    expect(info.status).toBe("running");
    expect(info.image).toBe("debian-minimal");
    expect(info.imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    const r = await sb.run("sh", { args: ["-c", "echo hello; echo oops >&2; exit 3"] });
    expect(r).toMatchObject({ exitCode: 3, stdout: "hello\n", stderr: "oops\n" });
    expect((await sb.run("cat", { args: ["/etc/debian_version"] })).stdout).toMatch(/^\d+/);
  });

  it("applies env, working dir and user per command, and the sandbox env to every command", async () => {
    const sb = await sandbox({ env: { GREETING: "hi" } });
    const r = await sb.run("sh", {
      args: ["-c", 'echo "$GREETING $EXTRA $(pwd) $(id -u)"'],
      env: { EXTRA: "x" },
      workingDir: "/tmp",
      user: "1000",
    });
    expect(r.stdout.trim()).toBe("hi x /tmp 1000");
  });

  it("reports a missing command as exit 127 with a message", async () => {
    const sb = await sandbox();
    const r = await sb.run("/no/such/program");
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toContain("not found");
  });

  it("lists, gets by name, terminates once, and forgets nothing", async () => {
    const name = `lifecycle-${Date.now().toString(36)}`;
    const sb = await sandbox({ name });
    expect((await client.list()).map((s) => s.id)).toContain(sb.id);
    expect((await client.get(name)).id).toBe(sb.id);
    expect(await codeOf(client.create({ name, allowInternetAccess: false }))).toBe("already_exists");
    const ended = await client.terminate(sb.id);
    expect(ended).toMatchObject({ status: "terminated", terminationReason: "requested" });
    expect((await client.list()).map((s) => s.id)).not.toContain(sb.id);
    expect((await client.list({ all: true })).map((s) => s.id)).toContain(sb.id);
    // A second terminate succeeds and changes nothing.
    expect(await client.terminate(sb.id)).toMatchObject({ status: "terminated", terminatedAt: ended.terminatedAt });
    expect(await codeOf(sb.run("true"))).toBe("sandbox_not_running");
  });

  it("terminates an ephemeral sandbox at its timeout", async () => {
    const sb = await sandbox({ timeoutSecs: 1 });
    const ended = await waitFor(
      async () => {
        const s = await sb.info();
        return s.status === "terminated" ? s : undefined;
      },
      15_000,
      "the timeout",
    );
    expect(ended.terminationReason).toBe("timeout");
  });

  it("rejects bad input with stable codes and creates nothing", async () => {
    const before = (await client.list({ all: true })).length;
    expect(await codeOf(client.create({ name: "Bad Name!" }))).toBe("invalid_name");
    expect(await codeOf(client.create({ image: "no-such-image" }))).toBe("image_not_found");
    expect(await codeOf(client.create({ cpus: 1000 }))).toBe("out_of_range");
    expect(await codeOf(client.create({ memoryMb: 1 }))).toBe("out_of_range");
    expect(await codeOf(client.create({ timeoutSecs: -5 }))).toBe("out_of_range");
    expect(await codeOf(client.create({ bogus: true } as never))).toBe("invalid_argument");
    expect(await codeOf(client.get("sb-doesnotexist"))).toBe("sandbox_not_found");
    expect((await client.list({ all: true })).length).toBe(before);
  });
});
