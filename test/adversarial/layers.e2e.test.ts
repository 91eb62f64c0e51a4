// Attacks through layers: a sandbox tries to turn the runtime's mount points into links, plants
// links to host paths (absolute, `..`s, chains, in /etc), a setuid file, a fifo and a whiteout,
// then is snapshotted (committed on the host with cp -a), registered as an image and started again; a snapshot taken while a process flips a dir and a link to the host;
// and build contexts or add() archives that reach outside themselves. Links in a layer must
// resolve inside the new sandbox only, and the host canary never changes.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Image, type Sandbox } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "../fixtures.js";
import { HostCanary, hostPathsAbsent, rawTar, sh } from "./kit.js";

const client = sharedClient();
const sandbox = useSandboxes(client);
const canary = new HostCanary("layers");
const tag = `${process.pid}-${Date.now()}`;

afterAll(() => {
  canary.check();
  canary.remove();
});

describe("layer attacks", () => {
  it("cannot turn a runtime mount point (/etc, /proc, /dev, /sys, /.sbx) into a link for later sandboxes", async () => {
    const src = await sandbox();
    // Each is, or holds, a mount point in the running sandbox: rename and removal fail (EBUSY), so
    // no snapshot can carry a link where the runtime will mount next time. `rm -rf /.sbx` empties
    // the agent's log dir (/.sbx/logs, where this very process's output goes), so the findings are
    // written to /tmp and read by a second process.
    await sh(
      src,
      `for d in /etc /proc /dev /sys /.sbx /.sbx/busybox /etc/resolv.conf; do mv $d $d.moved 2>/dev/null && echo "MOVED $d"; rm -rf $d 2>/dev/null; [ -L $d ] && echo "LINK $d"; ln -sfn ${canary.dir} $d 2>/dev/null; [ -L $d ] && echo "LINK $d"; done > /tmp/attack.out 2>&1; echo end >> /tmp/attack.out`,
    );
    expect((await sh(src, "cat /tmp/attack.out")).stdout).toBe("end\n");
    const snap = await src.snapshot();
    const again = await sandbox({ snapshotId: snap.id, allowInternetAccess: true });
    const check = await sh(
      again,
      "for d in /etc /proc /dev /sys /.sbx /.sbx/busybox /etc/resolv.conf; do [ -L $d ] && echo LINK $d; done; /.sbx/busybox true && echo helpers-ok",
    );
    expect(check.stdout).toBe("helpers-ok\n");
    canary.check();
  });

  it("links to host paths planted in a snapshot resolve inside the sandbox started from it", async () => {
    const src = await sandbox();
    const plant = await sh(
      src,
      [
        // A decoy at the host canary's path, inside the sandbox: what every link must reach.
        `mkdir -p ${canary.dir} && echo decoy > ${canary.file}`,
        `mkdir -p /planted && ln -s ${canary.dir} /planted/abs && ln -s ../../../../../..${canary.file} /planted/rel`,
        `ln -s ${canary.dir} /etc/linked-dir && ln -s /planted/abs /planted/chain`,
        "echo suid > /planted/suid && chmod 4755 /planted/suid && mkfifo /planted/fifo && rm /etc/issue",
      ].join(" && ") + "; mknod /planted/mem c 1 1 2>/dev/null && echo MKNOD-OK; true",
    );
    expect(plant.stderr).toBe("");
    expect(plant.stdout).not.toContain("MKNOD-OK");
    const snap = await src.snapshot();
    const expectInside = async (sb: Sandbox) => {
      const r = await sh(
        sb,
        "cat /planted/rel /planted/abs/canary.txt /planted/chain/canary.txt /etc/linked-dir/canary.txt; stat -c %a /planted/suid; [ -p /planted/fifo ] && echo fifo; [ -e /etc/issue ] || echo no-issue; [ -e /planted/mem ] || echo no-mem",
      );
      expect(r.stdout).toBe("decoy\ndecoy\ndecoy\ndecoy\n4755\nfifo\nno-issue\nno-mem\n");
    };
    // Started with network, so the runtime bind-mounts resolv.conf into /etc again.
    await expectInside(await sandbox({ snapshotId: snap.id, allowInternetAccess: true }));
    canary.check();
    // Registered as an image, the same layer starts the same way.
    const ref = `adv-layers-${process.pid}`;
    await client.registerImage(ref, snap.id, { replace: true });
    await expectInside(await sandbox({ image: ref }));
    canary.check();
    hostPathsAbsent([join(canary.dir, "resolv.conf"), join(canary.dir, "issue")]);
  });

  it("a snapshot taken while a process flips a dir and a link to the host holds only sandbox files", async () => {
    const src = await sandbox();
    await sh(
      src,
      "mkdir -p /flip-real && for i in $(seq 1 200); do echo sandbox > /flip-real/f$i; done && cp /flip-real/f1 /flip-real/canary.txt",
    );
    await src.startProcess("sh", {
      args: [
        "-c",
        `while :; do mv /flip-real /flip-tmp; ln -s ${canary.dir} /flip-real; rm /flip-real; mv /flip-tmp /flip-real; done`,
      ],
    });
    const snaps = [];
    for (let i = 0; i < 3; i++) snaps.push(await src.snapshot());
    for (const snap of snaps) {
      const copy = await sandbox({ snapshotId: snap.id });
      const r = await sh(
        copy,
        "grep -rl canary / --include=canary.txt -s -I 2>/dev/null | grep -v ^/proc; cat /flip-real/canary.txt /flip-tmp/canary.txt 2>/dev/null; echo end",
      );
      expect(r.stdout).not.toContain(canary.content.trim());
      expect(r.stdout).toContain("sandbox");
      await copy.terminate();
    }
    canary.check();
  });

  it("build contexts and add() archives that reach outside themselves are refused before the build", async () => {
    const ctx = mkdtempSync(join(tmpdir(), "sbx-adv-ctx-"));
    try {
      symlinkSync(canary.file, join(ctx, "leak"));
      symlinkSync(canary.dir, join(ctx, "leakdir"));
      mkdirSync(join(ctx, "ok"));
      writeFileSync(
        join(ctx, "evil.tar"),
        rawTar([{ path: `../../../..${canary.dir}/from-add-${tag}`, body: "dots" }]),
      );
      writeFileSync(
        join(ctx, "evil-link.tar"),
        rawTar([
          { path: "l", type: "SymbolicLink", linkpath: canary.dir },
          { path: `l/through-${tag}`, body: "through" },
        ]),
      );
      const name = `adv-ctx-${process.pid}`;
      const attempts: Array<[string, Image]> = [
        ["copy of a link to a host file", new Image({ name }).copy("leak", "/leak")],
        ["copy of a link to a host dir", new Image({ name }).copy("leakdir", "/leakdir")],
        ["copy through a linked parent", new Image({ name }).copy("leakdir/canary.txt", "/x")],
        ["add of an archive with ..", new Image({ name }).add("evil.tar", "/x/")],
        ["add of an archive writing through a link", new Image({ name }).add("evil-link.tar", "/x/")],
      ];
      for (const [what, img] of attempts) {
        await expect(img.build({ client, contextDir: ctx, replace: true }), what).rejects.toMatchObject({
          code: expect.stringMatching(/invalid_argument|invalid_archive/),
        });
      }
      await expect(client.transport.json("GET", `/v1/images/${name}`)).rejects.toMatchObject({
        code: "image_not_found",
      });
    } finally {
      rmSync(ctx, { recursive: true, force: true });
    }
    canary.check();
    hostPathsAbsent([join(canary.dir, `from-add-${tag}`), join(canary.dir, `through-${tag}`)]);
  });
});
