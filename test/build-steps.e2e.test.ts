// Consecutive build steps in one build sandbox (issue 12): each step's layer is only what it
// changed (deletions as whiteouts, replaced dirs opaque), no background process of a step lives
// on into the next, and the image runs with the same files as if each step had its own sandbox.
import { afterAll, describe, expect, it } from "vitest";
import { Image, type BuildEvent } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "./fixtures.js";

const client = sharedClient();
const sandbox = useSandboxes(client);
const NAME = "steps-shared";

afterAll(async () => {
  await client.deleteImage(NAME).catch(() => undefined);
});

describe("build steps sharing one sandbox", () => {
  it("layers each step's own changes, ends background processes between steps, keeps the image's files", async () => {
    const events: BuildEvent[] = [];
    await new Image({ name: NAME, baseImage: "debian-minimal" })
      .run(
        [
          "mkdir -p /t/d /t/k/k2 /t/keep",
          "echo old > /t/d/x && echo y > /t/k/k2/y && echo b > /t/b && echo one > /t/f1 && echo k > /t/keep/f",
          "head -c 300000 /dev/urandom > /t/big",
          // The init's start time tells the sandbox apart from a fresh one.
          "cut -d' ' -f22 /proc/1/stat > /t/init1",
          "sleep 600 >/dev/null 2>&1 &",
        ].join(" && "),
      )
      .run("echo two >> /t/f1 && rm /t/b && rm -rf /t/d /t/k && mkdir /t/d && echo z > /t/d/z")
      .env("STEP", "3")
      .run(
        "n=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -o 'slee[p] 600' | wc -l); echo $n > /t/bg && " +
          "cut -d' ' -f22 /proc/1/stat > /t/init3",
      )
      .build({ client, replace: true, noCache: true, onEvent: (e) => void events.push(e) });

    const sizes = events.flatMap((e) => (e.type === "step_done" && e.layer ? [e.layer.sizeBytes] : []));
    expect(sizes).toHaveLength(3);
    // The first layer holds the 300 kB file; the later ones only what their step changed.
    expect(sizes[0]).toBeGreaterThan(300_000);
    expect(sizes[1]).toBeLessThan(100_000);
    expect(sizes[2]).toBeLessThan(100_000);

    const sb = await sandbox({ image: NAME, allowInternetAccess: false });
    const sh = async (cmd: string) => {
      const r = await sb.run("/bin/sh", { args: ["-c", cmd] });
      expect(r.exitCode, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    expect(await sh("cat /t/f1")).toBe("one\ntwo");
    expect(await sh("ls -A /t | tr '\\n' ' '")).toBe("bg big d f1 init1 init3 keep");
    expect(await sh("ls -A /t/d")).toBe("z");
    expect(await sh("cat /t/keep/f")).toBe("k");
    expect(await sh("wc -c < /t/big")).toBe("300000");
    // The sleep started by step 1 was gone when step 3 ran, in the same build sandbox.
    expect(await sh("cat /t/bg")).toBe("0");
    expect(await sh("cat /t/init1")).toBe(await sh("cat /t/init3"));
  });
});
