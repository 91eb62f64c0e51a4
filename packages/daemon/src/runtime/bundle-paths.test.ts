import { describe, expect, it } from "vitest";
import { bundleRelative, withBundleRelativePaths } from "./bundle-paths.js";
import { buildOciConfig } from "./oci-config.js";

const B = "/var/lib/sbx/sandboxes/sb-1";

describe("bundleRelative", () => {
  it("makes paths inside the bundle relative and leaves the rest alone", () => {
    expect(bundleRelative(B, `${B}/rootfs`)).toBe("rootfs");
    expect(bundleRelative(B, `${B}/volumes/0`)).toBe("volumes/0");
    expect(bundleRelative(B, B)).toBe(".");
    expect(bundleRelative(B, "/usr/bin/busybox")).toBe("/usr/bin/busybox");
    // A sibling whose name merely starts with the bundle's is outside it.
    expect(bundleRelative(B, `${B}-2/rootfs`)).toBe(`${B}-2/rootfs`);
    expect(bundleRelative(B, `${B}/../sb-2/rootfs`)).toBe(`${B}/../sb-2/rootfs`);
    expect(bundleRelative(B, "proc")).toBe("proc");
  });
});

describe("withBundleRelativePaths", () => {
  it("leaves no absolute path into the data dir in a sandbox's config, only host binaries", () => {
    const config = buildOciConfig({
      id: "sb-1",
      rootfs: `${B}/rootfs`,
      hostname: "sb-1",
      env: [],
      cwd: "/",
      uidBase: 231072,
      uidCount: 65536,
      cpus: 1,
      memoryMb: 512,
      pidsLimit: 512,
      limitSwap: true,
      nofile: 1024,
      cgroupsPath: "/sbx/sb-1",
      initPath: "/usr/bin/catatonit",
      busyboxPath: "/usr/bin/busybox",
      resolvConf: `${B}/resolv.conf`,
      trustMounts: [{ destination: "/etc/ssl/certs/ca-certificates.crt", source: `${B}/ca-bundle-0.crt` }],
      agent: { binary: "/opt/sbx/sbx-agent", runDir: `${B}/agent`, logDir: `${B}/logs` },
      volumes: [{ source: `${B}/volumes/0`, destination: "/data", readOnly: false }],
    });
    const out = withBundleRelativePaths(config, B);
    expect((out.root as { path: string }).path).toBe("rootfs");
    const binds = (out.mounts as Array<{ type: string; source: string; destination: string }>).filter(
      (m) => m.type === "bind",
    );
    expect(Object.fromEntries(binds.map((m) => [m.destination, m.source]))).toMatchObject({
      "/etc/resolv.conf": "resolv.conf",
      "/etc/ssl/certs/ca-certificates.crt": "ca-bundle-0.crt",
      "/.sbx/run": "agent",
      "/.sbx/logs": "logs",
      "/data": "volumes/0",
    });
    expect(JSON.stringify(out)).not.toContain("/var/lib/sbx");
    expect(binds.map((m) => m.source).filter((s) => s.startsWith("/"))).toEqual([
      "/usr/bin/catatonit",
      "/usr/bin/busybox",
      "/opt/sbx/sbx-agent",
    ]);
    // The input is not changed in place.
    expect((config.root as { path: string }).path).toBe(`${B}/rootfs`);
  });
});
