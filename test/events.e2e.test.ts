// The event stream through the real daemon and real sandboxes: lifecycle and process events in
// order with the termination reason, resuming after an id, one project never seeing another's
// events, and `sbx events` on the command line.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { Sandbox, SandboxClient, type SbxEvent } from "@sbx-sh/sdk";
import { sharedClient } from "./fixtures.js";
import { REPO } from "./harness.js";

const client = sharedClient();
const host = inject("sbxHost");
const aborts: AbortController[] = [];
afterAll(() => aborts.forEach((a) => a.abort()));

/** Follows events into an array until `until` matches one; answers them all. */
function collect(
  c: SandboxClient,
  until: (e: SbxEvent) => boolean,
  opts: { types?: string[]; since?: number; sandboxId?: string } = {},
) {
  const abort = new AbortController();
  aborts.push(abort);
  const seen: SbxEvent[] = [];
  const iterator = c.events({ ...opts, signal: abort.signal });
  const done = (async () => {
    for await (const e of iterator) {
      seen.push(e);
      if (until(e)) break;
    }
    abort.abort();
    return seen;
  })();
  return { done };
}

describe("event stream", () => {
  let lifecycle: SbxEvent[] = [];
  let sandboxId = "";

  it("publishes a sandbox's lifecycle and its processes in order, with the termination reason", async () => {
    let id = "";
    // From the start of the kept history: whenever the subscription reaches the daemon, nothing is missed.
    const follow = collect(client, (e) => e.type === "sandbox.terminated" && e.subject === id, {
      types: ["sandbox", "process"],
      since: 0,
    });
    const sb = await Sandbox.create({ allowInternetAccess: false }, client);
    id = sb.id;
    sandboxId = id;
    const r = await sb.run("sh", { args: ["-c", "exit 7"] });
    expect(r.exitCode).toBe(7);
    await sb.terminate();
    lifecycle = (await follow.done).filter((e) => e.sandboxId === id);
    expect(lifecycle.map((e) => e.type)).toEqual([
      "sandbox.created",
      "sandbox.running",
      "process.started",
      "process.exited",
      "sandbox.terminated",
    ]);
    const exited = lifecycle[3]!;
    expect(exited.attributes).toMatchObject({ command: "sh", exitCode: 7 });
    expect(lifecycle[4]!.attributes.reason).toBe("requested");
    expect(lifecycle.every((e) => e.project === "default")).toBe(true);
    const ids = lifecycle.map((e) => e.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it("resumes after an event id with what the client missed", async () => {
    const since = lifecycle[1]!.id;
    const resumed = await collect(client, (e) => e.id === lifecycle[4]!.id, { since, sandboxId }).done;
    expect(resumed.map((e) => e.id)).toEqual(lifecycle.slice(2).map((e) => e.id));
  });

  it("never shows one project's events to another", async () => {
    await client.createProject("evother").catch(() => undefined);
    const other = new SandboxClient({ host, project: "evother" });
    let otherId = "";
    const follow = collect(other, (e) => e.type === "sandbox.terminated" && e.subject === otherId, { since: 0 });
    const sb = await Sandbox.create({ allowInternetAccess: false }, other);
    otherId = sb.id;
    await sb.terminate();
    const seen = await follow.done;
    expect(seen.filter((e) => e.type !== "events.lost").every((e) => e.project === "evother")).toBe(true);
    expect(seen.some((e) => e.subject === sandboxId || e.sandboxId === sandboxId)).toBe(false);
    expect(seen.some((e) => e.type === "sandbox.created" && e.subject === otherId)).toBe(true);
  });

  it("prints events on the command line, filtered, as JSON lines", () => {
    const since = lifecycle[0]!.id - 1;
    const r = spawnSync(
      process.execPath,
      [
        join(REPO, "packages", "cli", "bin", "sbx.js"),
        "events",
        "--filter",
        "type=sandbox.terminated",
        "--filter",
        `sandbox=${sandboxId}`,
        "--since",
        String(since),
        "-n",
        "1",
        "--json",
      ],
      { env: { ...process.env, SBX_HOST: host }, encoding: "utf8", timeout: 60_000 },
    );
    expect(r.status).toBe(0);
    const e = JSON.parse(r.stdout.trim()) as SbxEvent;
    expect(e).toMatchObject({ type: "sandbox.terminated", subject: sandboxId, attributes: { reason: "requested" } });
    const bad = spawnSync(
      process.execPath,
      [join(REPO, "packages", "cli", "bin", "sbx.js"), "events", "--filter", "colour=red"],
      { env: { ...process.env, SBX_HOST: host }, encoding: "utf8", timeout: 60_000 },
    );
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("type=<event type> or sandbox=<id>");
  });
});
