// Code in a sandbox is root there and can stand in for sbx-agent: here it takes over the agent's
// socket name with an impostor (impostor-agent.c) that answers garbage, announces a 4 GiB frame, or
// answers requests never asked. After a daemon restart the daemon meets the impostors: their
// sandboxes' calls fail with agent_unreachable, while the daemon, a sandbox left alone and its
// process (running across the restart) carry on, and the impostors' sandboxes can be terminated.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient, SbxError } from "@sbx-sh/sdk";
import { TestDaemon } from "../harness.js";
import { staticBinary } from "./kit.js";

const daemon = new TestDaemon({ name: "agent-impostor", netIndex: 4, extraArgs: ["--warm-pool", "0"] });
let client: SandboxClient;

beforeAll(async () => {
  await daemon.reset({ keepData: true });
  await daemon.start();
  client = new SandboxClient({ host: daemon.host });
});
afterAll(async () => {
  for (const s of await client.list().catch(() => [])) await client.terminate(s.id).catch(() => undefined);
  await daemon.stop();
});

describe("an impostor agent", () => {
  it("fails only its own sandbox's calls, with agent_unreachable", async () => {
    const impostor = readFileSync(staticBinary(fileURLToPath(new URL("impostor-agent.c", import.meta.url))));
    const modes = ["garbage", "huge", "lies"];
    const [good, ...bad] = await Promise.all(
      [0, 1, 2, 3].map(() => Sandbox.create({ allowInternetAccess: false }, client)),
    );
    const survivor = await good!.startProcess("sh", { args: ["-c", "sleep 2; echo survived; exit 5"] });
    for (const [i, sb] of bad.entries()) {
      await sb.writeFile("/impostor", impostor);
      await sb.run("chmod", { args: ["755", "/impostor"] });
      expect((await sb.run("/impostor", { args: [modes[i]!] })).exitCode).toBe(0);
    }

    await daemon.stop("SIGKILL");
    await daemon.start();

    for (const sb of bad) {
      const err = await sb.run("true").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SbxError);
      expect((err as SbxError).code).toBe("agent_unreachable");
      expect((err as SbxError).message).toMatch(/agent of sandbox/);
    }
    // The sandbox left alone works, and its process ran on through the restart.
    expect((await good!.run("echo", { args: ["fine"] })).stdout).toBe("fine\n");
    const r = await survivor.wait();
    expect(r.exitCode).toBe(5);
    expect(r.stdout).toBe("survived\n");
    for (const sb of bad) await sb.terminate();
    expect((await client.list()).map((s) => s.id)).toEqual([good!.id]);
  });
});
