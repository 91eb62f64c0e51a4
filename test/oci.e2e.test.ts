// OCI images end to end: export checked by skopeo and umoci against the sandbox's own view,
// export → import → run with an identical file tree, docker-archive import, push/pull through a
// real registry (Debian's docker-registry on loopback), skopeo copy into it, builds FROM it, and
// bad archives that register nothing.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Image, type Sandbox } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { REPO, testDaemonRoot } from "./harness.js";
import { layout, tarOf } from "../packages/daemon/src/oci/testing/craft.js";
import { TestRegistry } from "./registry.js";

const host = inject("sbxHost");
const client = sharedClient();
const sandbox = useSandboxes(client);
const registry = new TestRegistry();
let work: string;

function sh(
  cmd: string,
  args: string[],
  opts: { cwd?: string } = {},
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 600_000, maxBuffer: 64 << 20, ...opts });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const sbx = (args: string[]) =>
  sh(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args].map(String), {});
process.env.SBX_HOST = host;

interface Progress {
  event: string;
  op: string;
  bytes: number;
  total: number;
  layers: number;
  layersTotal: number;
  done: boolean;
}
const progressEvents = (stderr: string): Progress[] =>
  stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Progress);

/** Names, types, modes, owners and link targets of the tree, plus every file's content hash; runtime mounts left out. */
const TREE = `cd "$1" && find . -xdev \\( -path ./proc -o -path ./sys -o -path ./dev -o -path ./.sbx -o -path ./tmp -o -path ./run -o -path ./etc/resolv.conf -o -path ./etc/hosts -o -path ./etc/hostname \\) -prune -o -printf '%p|%y|%m|%U|%G|%l\\n' | LC_ALL=C sort > /tmp/.list
find . -xdev \\( -path ./proc -o -path ./sys -o -path ./dev -o -path ./.sbx -o -path ./tmp -o -path ./run -o -path ./etc/resolv.conf -o -path ./etc/hosts -o -path ./etc/hostname \\) -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum > /tmp/.sums
echo "$(wc -l < /tmp/.list) $(sha256sum < /tmp/.list | cut -c1-16) $(sha256sum < /tmp/.sums | cut -c1-16)"`;

async function treeOf(sb: Sandbox): Promise<string> {
  const r = await sb.run("sh", { args: ["-c", TREE, "sh", "/"] });
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function treeOfImage(image: string): Promise<string> {
  return treeOf(await sandbox({ image }));
}

const IMAGES = [
  "oci-src",
  "oci-copy",
  "oci-dir",
  "oci-docker",
  "oci-pulled:1",
  "oci-skopeo:v2",
  "oci-from-reg",
  "oci-df",
  "oci-bad",
  "oci-locked:1",
  "oci-cached",
];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "sbx-oci-e2e-"));
  await registry.start();
  // A whiteout (/etc/issue), an opaque dir (/usr/share/doc), setuid, owners, a symlink, env, workdir, cmd.
  await new Image({ name: "oci-src", baseImage: "debian-minimal" })
    .run("rm /etc/issue && rm -rf /usr/share/doc && mkdir /usr/share/doc && echo only > /usr/share/doc/only")
    .run(
      "mkdir -p /opt/app/sub && echo hello > /opt/app/hello && chmod 4755 /opt/app/hello && chown 1000:1000 /opt/app/sub && ln -s /opt/app/hello /opt/app/link",
    )
    .env("GREETING", "hi")
    .workdir("/opt/app")
    .cmd(["cat", "hello"])
    .build({ client, replace: true });
}, 600_000);

afterAll(async () => {
  await registry.stop();
  for (const name of IMAGES) await client.deleteImage(name).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

describe("OCI export", () => {
  it("writes a layout that skopeo inspects, as a tar and as a folder", async () => {
    const tar = join(work, "src.oci.tar");
    const out = sbx(["image", "export", "oci-src", "-o", tar]);
    expect(out.code, out.stderr).toBe(0);
    const info = JSON.parse(sh("skopeo", ["inspect", "--config", `oci-archive:${tar}`]).stdout) as {
      config: { Env: string[]; WorkingDir: string; Cmd: string[] };
      rootfs: { diff_ids: string[] };
    };
    expect(info.config.Env).toContain("GREETING=hi");
    expect(info.config.WorkingDir).toBe("/opt/app");
    expect(info.config.Cmd).toEqual(["cat", "hello"]);
    // The base rootfs, the two RUN layers and the WORKDIR layer.
    expect(info.rootfs.diff_ids.length).toBe(1 + (await client.getImage("oci-src")).layers.length);

    const dir = join(work, "src-layout");
    const toDir = sbx(["image", "export", "oci-src", "-o", dir]);
    expect(toDir.code, toDir.stderr).toBe(0);
    const raw = JSON.parse(sh("skopeo", ["inspect", `oci:${dir}:latest`]).stdout) as { Layers: string[] };
    expect(raw.Layers).toHaveLength(info.rootfs.diff_ids.length);
    // sbx-deflate made the blobs (npm run build makes it; every check in this file then reads its
    // one-member-per-block gzip): libdeflate's gzip header says XFL 4, OS 255 (zlib's here: 0, 3).
    const blob = readFileSync(join(dir, "blobs", "sha256", raw.Layers[0]!.slice(7)));
    expect([...blob.subarray(8, 10)]).toEqual([4, 255]);
  });

  it("umoci unpacks it into the very tree the sandbox sees (contents, modes, owners, whiteouts)", async () => {
    const bundle = join(work, "bundle");
    const r = sh("umoci", ["unpack", "--image", `${join(work, "src-layout")}:latest`, bundle]);
    expect(r.code, r.stderr).toBe(0);
    const host = sh("sh", ["-c", TREE, "sh", join(bundle, "rootfs")]);
    expect(host.code, host.stderr).toBe(0);
    const sb = await sandbox({ image: "oci-src" });
    expect(host.stdout.trim()).toBe(await treeOf(sb));
    const look = await sb.run("sh", {
      args: [
        "-c",
        "stat -c '%a %u' /opt/app/hello; stat -c %u /opt/app/sub; ls /usr/share/doc; test -e /etc/issue || echo no-issue",
      ],
    });
    expect(look.stdout).toBe("4755 0\n1000\nonly\nno-issue\n");
    rmSync(bundle, { recursive: true, force: true });
  });

  it("streams the same bytes every time, and a client that leaves mid-export leaves no temp file behind", async () => {
    const tmp = join(testDaemonRoot("shared"), "data", "tmp");
    const list = (): string[] => {
      try {
        return readdirSync(tmp).filter((n) => n.startsWith("oci-"));
      } catch {
        return [];
      }
    };
    const before = new Set(list());
    const ours = (): string[] => list().filter((n) => !before.has(n));
    // Reads one chunk, then goes away: the daemon must stop the export and drop its spools.
    const ac = new AbortController();
    const partial = await client.exportImage("oci-src", ac.signal);
    for await (const _ of partial) break;
    ac.abort();
    for (let i = 0; i < 100 && ours().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(ours()).toEqual([]);
    // The daemon carries on, and the archive depends on the image only (no times, no temp names).
    const again = join(work, "src-again.oci.tar");
    const out = sbx(["image", "export", "oci-src", "-o", again]);
    expect(out.code, out.stderr).toBe(0);
    const sum = (f: string) => sh("sha256sum", [f]).stdout.split(" ")[0];
    expect(sum(again)).toBe(sum(join(work, "src.oci.tar")));
  });
});

describe("OCI export blob cache", () => {
  const cacheDir = join(testDaemonRoot("shared"), "data", "oci-blobs");
  /** The blob digests the daemon's blob cache holds (from its committed records). */
  const cached = (): string[] => {
    try {
      return readdirSync(cacheDir)
        .filter((n) => n.endsWith(".json"))
        .map((n) => JSON.parse(readFileSync(join(cacheDir, n), "utf8")) as { blob: { desc: { digest: string } } })
        .map((r) => r.blob.desc.digest);
    } catch {
      return [];
    }
  };
  const until = async (ok: () => boolean): Promise<boolean> => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
    return ok();
  };

  it("sends a repeat export from the cache, byte-identical and valid, and drops the entry when the layer is collected", async () => {
    // A layer no export has seen yet: its first export compresses it and leaves its blob in the cache.
    await new Image({ name: "oci-cached", baseImage: "debian-minimal" })
      .run(`head -c 300000 /dev/urandom > /opt/noise-${Date.now()}`)
      .build({ client, replace: true });
    const first = join(work, "cached-1.oci.tar");
    expect(sbx(["image", "export", "oci-cached", "-o", first]).code).toBe(0);
    const layers = (
      JSON.parse(sh("skopeo", ["inspect", "--raw", `oci-archive:${first}`]).stdout) as {
        layers: { digest: string }[];
      }
    ).layers.map((l) => l.digest);
    const own = layers.at(-1)!;
    expect(await until(() => layers.every((d) => cached().includes(d)))).toBe(true);

    const second = join(work, "cached-2.oci.tar");
    const out = sbx(["image", "export", "oci-cached", "-o", second]);
    expect(out.code, out.stderr).toBe(0);
    const sum = (f: string) => sh("sha256sum", [f]).stdout.split(" ")[0];
    expect(sum(second)).toBe(sum(first));
    const copied = join(work, "cached-layout");
    expect(sh("skopeo", ["copy", "--quiet", `oci-archive:${second}`, `oci:${copied}:x`]).code).toBe(0);
    const unpacked = sh("umoci", ["unpack", "--image", `${copied}:x`, join(work, "cached-bundle")]);
    expect(unpacked.code, unpacked.stderr).toBe(0);
    rmSync(join(work, "cached-bundle"), { recursive: true, force: true });

    // Deleting the image collects its own layer: its blob leaves the cache; the base's stays.
    await client.deleteImage("oci-cached");
    expect(await until(() => !cached().includes(own))).toBe(true);
    expect(cached()).toContain(layers[0]);
  });
});

describe("OCI import", () => {
  let original: string;
  beforeAll(async () => {
    original = await treeOfImage("oci-src");
  });

  it("round-trips export → import → run with an identical tree and config", async () => {
    const r = sbx(["image", "import", join(work, "src.oci.tar"), "-n", "oci-copy"]);
    expect(r.code, r.stderr).toBe(0);
    expect(await treeOfImage("oci-copy")).toBe(original);
    const img = await client.getImage("oci-copy");
    expect(img.config).toMatchObject({ workingDir: "/opt/app", cmd: ["cat", "hello"], user: "root" });
    const sb = await sandbox({ image: "oci-copy" });
    expect((await sb.run("sh", { args: ["-c", 'echo "$GREETING $(pwd)"'] })).stdout).toBe("hi /opt/app\n");
  });

  it("imports a layout folder and a docker-archive (skopeo copy) to the same tree", async () => {
    expect(sbx(["image", "import", join(work, "src-layout"), "-n", "oci-dir"]).code).toBe(0);
    expect(await treeOfImage("oci-dir")).toBe(original);
    const docker = join(work, "src.docker.tar");
    const c = sh("skopeo", [
      "copy",
      `oci-archive:${join(work, "src.oci.tar")}`,
      `docker-archive:${docker}:oci/src:latest`,
    ]);
    expect(c.code, c.stderr).toBe(0);
    const r = sbx(["image", "import", docker, "-n", "oci-docker"]);
    expect(r.code, r.stderr).toBe(0);
    expect(await treeOfImage("oci-docker")).toBe(original);
  });

  it("refuses garbage, a missing blob and a corrupt blob, registering nothing", async () => {
    await writeFile(join(work, "garbage.tar"), Buffer.alloc(4096, 0x41));
    const g = sbx(["image", "import", join(work, "garbage.tar"), "-n", "oci-bad"]);
    expect(g.code).not.toBe(0);
    expect(g.stderr).toMatch(/not a valid tar archive/);

    const broken = join(work, "broken-layout");
    sh("cp", ["-a", join(work, "src-layout"), broken]);
    const manifest = JSON.parse(sh("sh", ["-c", `cat ${broken}/index.json`]).stdout) as {
      manifests: Array<{ digest: string }>;
    };
    const m = JSON.parse(sh("cat", [join(broken, "blobs/sha256", manifest.manifests[0]!.digest.slice(7))]).stdout) as {
      layers: Array<{ digest: string }>;
    };
    const last = m.layers.at(-1)!.digest;
    rmSync(join(broken, "blobs/sha256", last.slice(7)));
    const missing = sbx(["image", "import", broken, "-n", "oci-bad"]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`layer ${last} is missing`);

    await writeFile(join(broken, "blobs/sha256", last.slice(7)), Buffer.alloc(1000, 1));
    const corrupt = sbx(["image", "import", broken, "-n", "oci-bad"]);
    expect(corrupt.code).not.toBe(0);
    expect(corrupt.stderr).toMatch(new RegExp(`layer ${last}.*(cannot be decompressed|does not match)`));
    expect((await client.listImages()).map((i) => i.name)).not.toContain("oci-bad");
    const left = join("/tmp", `sbx-test${process.env.SBX_TEST_SLOT ?? ""}-shared`, "data", "layers");
    expect(readdirSync(left).filter((d) => d.startsWith(".oci-"))).toEqual([]);
    const tmp = join("/tmp", `sbx-test${process.env.SBX_TEST_SLOT ?? ""}-shared`, "data", "tmp");
    expect(readdirSync(tmp).filter((d) => d.startsWith("oci-"))).toEqual([]);
  });

  it("refuses layers that escape with ../ or write through a symlink to the host, writing nothing there", async () => {
    const marker = join(work, "host-marker");
    const hostile: Array<[string, Parameters<typeof tarOf>[0], RegExp]> = [
      [
        "dotdot",
        [{ path: "../../../../../../../../" + marker.slice(1), data: "pwned" }],
        /escapes the layer with '\.\.'/,
      ],
      [
        "symlink",
        [
          { path: "evil", type: "symlink", linkpath: work },
          { path: "evil/host-marker", data: "pwned" },
        ],
        /symlinks are never followed/,
      ],
    ];
    for (const [name, entries, message] of hostile) {
      const dir = join(work, `hostile-${name}`);
      await layout(dir, [tarOf([{ path: "etc/", type: "dir", mode: 0o755 }, ...entries])]);
      const r = sbx(["image", "import", dir, "-n", "oci-bad"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
    expect(sh("ls", [marker]).code).not.toBe(0);
    expect((await client.listImages()).map((i) => i.name)).not.toContain("oci-bad");
  });
});

describe("registry push and pull", () => {
  let original: string;
  beforeAll(async () => {
    original = await treeOfImage("oci-src");
  });

  it("pushes to the registry (skopeo sees it), skips what is there, and pulls it back", async () => {
    const ref = `${registry.host}/team/src:1`;
    const push = sbx(["image", "push", "oci-src", ref, "--json"]);
    expect(push.code, push.stderr + registry.log).toBe(0);
    expect(JSON.parse(push.stdout)).toMatchObject({ blobsSkipped: 0 });
    // --json: progress events on stderr, counted by the daemon as it sends; the last one is complete.
    const pushed = progressEvents(push.stderr);
    expect(pushed.at(-1)).toMatchObject({ event: "progress", op: "push", done: true });
    expect(pushed.at(-1)!.bytes).toBe(pushed.at(-1)!.total);
    expect(pushed.at(-1)!.bytes).toBeGreaterThan(0);
    expect(pushed.at(-1)!.layers).toBe(pushed.at(-1)!.layersTotal);
    const info = JSON.parse(sh("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`]).stdout) as {
      Digest: string;
      Env: string[];
    };
    expect(info.Digest).toBe(JSON.parse(push.stdout).digest);
    expect(info.Env).toContain("GREETING=hi");
    const again = JSON.parse(sbx(["image", "push", "oci-src", ref, "--json"]).stdout) as { blobsSent: number };
    expect(again.blobsSent).toBe(0);
    // Without --json and a terminal: one plain line at the end, with the bytes and layers.
    const plain = sbx(["image", "push", "oci-src", ref]);
    expect(plain.stderr.trim().split("\n").at(-1)).toMatch(
      new RegExp(`^push oci-src -> ${ref}: .* \\(${pushed.at(-1)!.total} bytes, (\\d+)/\\1 layers\\) in [\\d.]+s$`),
    );

    const pull = sbx(["image", "pull", ref, "-n", "oci-pulled", "--json"]);
    expect(pull.code, pull.stderr).toBe(0);
    // The tag comes from the reference when -n gives none.
    expect(JSON.parse(pull.stdout)).toMatchObject({ image: { name: "oci-pulled", tag: "1" }, layersFetched: 0 });
    // Layers the daemon has count as done.
    expect(progressEvents(pull.stderr).at(-1)).toMatchObject({ op: "pull", done: true, layers: pushed.at(-1)!.layers });
    expect(await treeOfImage("oci-pulled:1")).toBe(original);
  });

  it("pulls an image that skopeo copied into the registry", async () => {
    const ref = `${registry.host}/other/copied:v2`;
    const c = sh("skopeo", [
      "copy",
      "--dest-tls-verify=false",
      `oci-archive:${join(work, "src.oci.tar")}`,
      `docker://${ref}`,
    ]);
    expect(c.code, c.stderr).toBe(0);
    const seen: Array<{ bytes: number; total: number; layers: number; layersTotal: number }> = [];
    const pulled = await client.pullImage(ref, { name: "oci-skopeo", onProgress: (p) => seen.push(p) });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)!.bytes).toBe(seen.at(-1)!.total);
    expect(seen.at(-1)!.layers).toBe(seen.at(-1)!.layersTotal);
    expect(pulled.image).toMatchObject({ name: "oci-skopeo", tag: "v2" });
    expect(await treeOfImage("oci-skopeo:v2")).toBe(original);
  });

  it("builds FROM a registry image (SDK baseImage and Dockerfile), pulling on first use", async () => {
    const ref = `${registry.host}/team/src:1`;
    await new Image({ name: "oci-from-reg", baseImage: ref })
      .run("cat /opt/app/hello > /copied")
      .build({ client, replace: true });
    const sb = await sandbox({ image: "oci-from-reg" });
    expect((await sb.run("sh", { args: ["-c", 'cat /copied; echo "$GREETING"; ls /usr/share/doc'] })).stdout).toBe(
      "hello\nhi\nonly\n",
    );

    const dir = join(work, "df");
    sh("mkdir", ["-p", dir]);
    await writeFile(join(dir, "Dockerfile"), `FROM ${ref}\nRUN echo from-dockerfile > /df\n`);
    const r = sbx(["image", "create", join(dir, "Dockerfile"), "-n", "oci-df", "--progress", "plain"]);
    expect(r.code, r.stderr).toBe(0);
    const df = await sandbox({ image: "oci-df" });
    expect((await df.run("sh", { args: ["-c", "cat /df /opt/app/hello"] })).stdout).toBe("from-dockerfile\nhello\n");
  });

  it("uses basic auth from the environment or flags, and says so when credentials are missing or wrong", async () => {
    const locked = new TestRegistry({ user: "bob", password: "s3cret" });
    await locked.start();
    try {
      const ref = `${locked.host}/team/locked:1`;
      const none = sbx(["image", "push", "oci-src", ref]);
      expect(none.code).not.toBe(0);
      expect(none.stderr).toMatch(/asks for a username and password/);
      const wrong = sbx(["image", "push", "oci-src", ref, "-u", "bob", "-p", "nope"]);
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/refused: give credentials/);
      process.env.SBX_REGISTRY_USER = "bob";
      process.env.SBX_REGISTRY_PASSWORD = "s3cret";
      const ok = sbx(["image", "push", "oci-src", ref]);
      expect(ok.code, ok.stderr).toBe(0);
      delete process.env.SBX_REGISTRY_USER;
      delete process.env.SBX_REGISTRY_PASSWORD;
      await expect(client.pullImage(ref, { name: "oci-locked" })).rejects.toMatchObject({ code: "unauthenticated" });
      const pulled = await client.pullImage(ref, { name: "oci-locked", username: "bob", password: "s3cret" });
      expect(pulled.image.id).toBe((await client.getImage("oci-copy")).id);
    } finally {
      delete process.env.SBX_REGISTRY_USER;
      delete process.env.SBX_REGISTRY_PASSWORD;
      await locked.stop();
    }
  });

  it("answers clear errors for a missing tag and an unreachable registry", async () => {
    await expect(client.pullImage(`${registry.host}/team/src:nope`)).rejects.toMatchObject({ code: "image_not_found" });
    await expect(client.pullImage("127.0.0.1:1/x/y:1")).rejects.toMatchObject({
      code: "failed_precondition",
      message: expect.stringMatching(/cannot reach/),
    });
    await expect(client.pushImage("oci-src", "not-a-registry-ref")).rejects.toMatchObject({ code: "invalid_argument" });
  });
});
