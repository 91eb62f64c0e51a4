// Consecutive build steps in one build sandbox (issue 12): each step's layer is only what it
// changed (deletions as whiteouts, replaced dirs opaque), no background process of a step lives
// on into the next, and the image runs with the same files as if each step had its own sandbox.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { Image, type BuildEvent } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { testDaemonRoot } from "./harness.js";

const client = sharedClient();
const sandbox = useSandboxes(client);
const NAME = "steps-shared";
const sandboxesDir = join(testDaemonRoot("shared"), "data", "sandboxes");
const layersDir = join(testDaemonRoot("shared"), "data", "layers");
const socketPath = inject("sbxHost").replace(/^unix:\/\//, "");

afterAll(async () => {
  await client.deleteImage(NAME).catch(() => undefined);
  await client.deleteImage(`${NAME}-blank`).catch(() => undefined);
  for (const n of ["on1", "on2", "bbase", "again1", "again2"])
    await client.deleteImage(`${NAME}-${n}`).catch(() => undefined);
});

/** A gauge of the daemon's /metrics (on its unix socket). */
function gauge(name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: "/metrics" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        const line = body.split("\n").find((l) => l.startsWith(`${name} `));
        resolve(line === undefined ? NaN : Number(line.slice(line.lastIndexOf(" ") + 1)));
      });
    });
    req.on("error", reject);
    req.end();
  });
}

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

  it("runs a build's first step in a ready warm-pool blank of its base, and tears that down with the build", async () => {
    // The default pool keeps networked blanks of debian-minimal: wait until it is full again.
    const target = await gauge("sbx_pool_target");
    expect(target).toBeGreaterThan(0);
    await expect
      .poll(() => gauge("sbx_pool_ready"), { timeout: 60_000, interval: 200 })
      .toBeGreaterThanOrEqual(2 * target);
    const events: BuildEvent[] = [];
    await new Image({ name: `${NAME}-blank`, baseImage: "debian-minimal" })
      .run("hostname > /h1 && echo a > /a")
      .run("hostname > /h2 && rm /a && echo b > /b")
      .build({ client, replace: true, noCache: true, onEvent: (e) => void events.push(e) });
    expect(events.filter((e) => e.type === "step_done")).toHaveLength(2);

    const image = await sandbox({ image: `${NAME}-blank`, allowInternetAccess: false });
    const base = await sandbox({ image: "debian-minimal", allowInternetAccess: false });
    const sh = async (sb: typeof image, cmd: string) => {
      const r = await sb.run("/bin/sh", { args: ["-c", cmd] });
      expect(r.exitCode, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    // A blank's hostname is its id (a sandbox made for a build is "build"); both steps shared it.
    const host = await sh(image, "cat /h1");
    expect(host).toMatch(/^sb-[a-z0-9]+$/);
    expect(await sh(image, "cat /h2")).toBe(host);
    // Its root holds the base plus the steps' files, nothing the blank's start left behind.
    const names = (await sh(base, "ls -A /")).split("\n");
    expect((await sh(image, "ls -A /")).split("\n").sort()).toEqual([...names, "b", "h1", "h2"].sort());
    expect(await sh(image, "cat /b")).toBe("b");
    // The build ended it: no dir, no container (it never became a sandbox of the store).
    expect(existsSync(join(sandboxesDir, host))).toBe(false);
    expect((await client.list({ all: true })).some((s) => s.id === host)).toBe(false);
  });

  it("keeps a blank of a base a build ran on, and the next build on it runs its first step there", async () => {
    const target = await gauge("sbx_pool_target");
    await new Image({ name: `${NAME}-bbase`, baseImage: "debian-minimal" }).run("echo base > /base").build({ client });
    const onBase = (name: string) =>
      new Image({ name: `${NAME}-${name}`, baseImage: `${NAME}-bbase` })
        // Its own step text: the same key would share (and replace) one layer dir between the two.
        .run(`hostname > /h && cat /base > /seen # ${name}`)
        .build({ client, replace: true, noCache: true });
    // No blank of it yet: a build sandbox is made (hostname "build"); a blank is kept from now on.
    await onBase("on1");
    await expect
      .poll(() => gauge("sbx_pool_ready"), { timeout: 60_000, interval: 200 })
      .toBeGreaterThanOrEqual(2 * target + 1);
    await onBase("on2");
    const [one, two] = [
      await sandbox({ image: `${NAME}-on1`, allowInternetAccess: false }),
      await sandbox({ image: `${NAME}-on2`, allowInternetAccess: false }),
    ];
    const sh = async (sb: typeof one, cmd: string) => {
      const r = await sb.run("/bin/sh", { args: ["-c", cmd] });
      expect(r.exitCode, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    expect(await sh(one, "cat /h")).toBe("build");
    const host = await sh(two, "cat /h");
    expect(host).toMatch(/^sb-[a-z0-9]+$/);
    // The same image either way: the base's files plus the step's, nothing of the blank's start.
    expect(await sh(two, "cat /seen")).toBe("base");
    expect(await sh(two, "ls -A /")).toBe(await sh(one, "ls -A /"));
    expect(existsSync(join(sandboxesDir, host))).toBe(false);
  });

  it("rebuilding a step uncached gives it a layer of its own: the first image and its sandbox keep theirs", async () => {
    // Same step text in both builds, so the same step key; a marker dir only this run's layers hold.
    const mark = `/lk-${randomBytes(6).toString("hex")}`;
    const build = (name: string, noCache: boolean) =>
      new Image({ name: `${NAME}-${name}`, baseImage: "debian-minimal" })
        .run(`mkdir -p ${mark} && date +%s%N > ${mark}/stamp`)
        .run(`cat ${mark}/stamp > ${mark}/copy`)
        .build({ client, replace: true, noCache });
    const read = async (sb: Awaited<ReturnType<typeof sandbox>>, file: string) => {
      const r = await sb.run("/bin/sh", { args: ["-c", `cat ${mark}/${file}`] });
      expect(r.exitCode, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    /** The layer dirs (of the daemon's layer store) holding this run's stamp, with what it says. */
    const stamped = () =>
      readdirSync(layersDir)
        .filter((n) => /^l[0-9a-f]{20}$/.test(n) && existsSync(join(layersDir, n, mark, "stamp")))
        .map((n) => readFileSync(join(layersDir, n, mark, "stamp"), "utf8").trim());

    await build("again1", false);
    const first = await sandbox({ image: `${NAME}-again1`, allowInternetAccess: false });
    const stamp1 = await read(first, "stamp");
    expect(stamp1).toMatch(/^\d{19}$/);
    await build("again2", true);

    const second = await sandbox({ image: `${NAME}-again2`, allowInternetAccess: false });
    const stamp2 = await read(second, "stamp");
    expect(stamp2).toMatch(/^\d{19}$/);
    expect(stamp2).not.toBe(stamp1);
    // The rebuild's next step stacked on its own new layer.
    expect(await read(second, "copy")).toBe(stamp2);
    // The running sandbox and a new one on the first image still read the first build's files.
    expect(await read(first, "stamp")).toBe(stamp1);
    expect(await read(first, "copy")).toBe(stamp1);
    const again = await sandbox({ image: `${NAME}-again1`, allowInternetAccess: false });
    expect(await read(again, "stamp")).toBe(stamp1);
    expect(stamped().sort()).toEqual([stamp1, stamp2].sort());

    // Both images and their sandboxes gone: collection leaves none of their layer dirs behind.
    await client.deleteImage(`${NAME}-again1`);
    await client.deleteImage(`${NAME}-again2`);
    for (const sb of [first, second, again]) await sb.terminate();
    await expect.poll(stamped, { timeout: 30_000, interval: 200 }).toEqual([]);
  });
});
