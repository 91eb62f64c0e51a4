// debian-systemd: systemd boots as PID 1, units start with systemctl, and images build on it.
import { describe, expect, it } from "vitest";
import { Image } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "./fixtures.js";

const client = sharedClient();
const sandbox = useSandboxes(client);

describe("systemd images", () => {
  it("boots systemd as PID 1 and starts units with systemctl", async () => {
    const sb = await sandbox({ image: "debian-systemd" });
    const r = await sb.run("sh", { args: ["-c", "cat /proc/1/comm; systemctl is-system-running"] });
    expect(r.stdout.split("\n").slice(0, 2)).toEqual(["systemd", expect.stringMatching(/^(running|degraded)$/)]);
    await sb.writeFile(
      "/etc/systemd/system/hello.service",
      '[Service]\nExecStart=/bin/sh -c "echo started > /run/hello; exec sleep infinity"\n',
    );
    const start = await sb.run("sh", {
      args: ["-c", "systemctl daemon-reload && systemctl start hello && systemctl is-active hello && cat /run/hello"],
    });
    expect(start.stdout).toBe("active\nstarted\n");
  });

  it("builds an image on debian-systemd whose unit runs at boot", async () => {
    const unit =
      "[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/sh -c 'echo booted > /run/demo; exec sleep infinity'\n[Install]\nWantedBy=multi-user.target\n";
    const img = await new Image({ name: "systemd-demo", baseImage: "debian-systemd" })
      .run(["sh", "-c", `printf '%s' "$0" > /etc/systemd/system/demo.service && systemctl enable demo`, unit])
      .build({ client, replace: true });
    expect(img.isolation).toBe("host-ids");
    const sb = await sandbox({ image: "systemd-demo" });
    expect((await sb.run("sh", { args: ["-c", "systemctl is-active demo; cat /run/demo"] })).stdout).toBe(
      "active\nbooted\n",
    );
    await client.transport.empty("DELETE", "/v1/images/systemd-demo");
  });
});

describe("systemd snapshots", () => {
  it("restores a snapshot of a systemd sandbox as a systemd sandbox", async () => {
    const sb = await sandbox({ image: "debian-systemd" });
    await sb.writeFile("/etc/marker", "kept");
    const snap = await sb.snapshot();
    const copy = await sandbox({ snapshotId: snap.id });
    expect((await copy.run("sh", { args: ["-c", "cat /proc/1/comm /etc/marker"] })).stdout).toBe("systemd\nkept");
  });
});
