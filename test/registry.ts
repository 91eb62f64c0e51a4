// A real OCI registry for tests: Debian's docker-registry (distribution) on a free loopback port,
// storing into a temp dir. Started by a test file, stopped in its afterAll. With `tls`, it serves
// HTTPS with the given certificate (and is probed trusting the given CA).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "./harness.js";

export interface TestRegistryOptions {
  /** The address it listens on (default 127.0.0.1). */
  address?: string;
  /** PEM files: serve HTTPS with this certificate; `ca` (PEM) is what the readiness check trusts. */
  tls?: { cert: string; key: string; ca: Buffer };
}

export class TestRegistry {
  /** With `auth`, the registry asks for basic auth (htpasswd, bcrypt made by apache2-utils' htpasswd). */
  constructor(
    private readonly auth?: { user: string; password: string },
    private readonly opts: TestRegistryOptions = {},
  ) {}

  private child: ChildProcess | undefined;
  private dir = "";
  port = 0;
  log = "";

  get host(): string {
    return `${this.opts.address ?? "127.0.0.1"}:${this.port}`;
  }

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), "sbx-registry-"));
    this.port = await freePort();
    const config = join(this.dir, "config.yml");
    let auth = "";
    if (this.auth) {
      // htpasswd (apache2-utils) on Debian 12 and 13 alike: Python's crypt module is gone from Python 3.13.
      const line = spawnSync("htpasswd", ["-nbBC", "5", this.auth.user, this.auth.password], {
        encoding: "utf8",
      }).stdout.trim();
      const hash = line.slice(line.indexOf(":") + 1);
      if (!hash.startsWith("$2")) throw new Error("cannot make a bcrypt hash for the registry's htpasswd");
      await writeFile(join(this.dir, "htpasswd"), `${this.auth.user}:${hash}\n`);
      auth = `auth:\n  htpasswd:\n    realm: sbx-test\n    path: ${join(this.dir, "htpasswd")}\n`;
    }
    const tls = this.opts.tls ? `  tls:\n    certificate: ${this.opts.tls.cert}\n    key: ${this.opts.tls.key}\n` : "";
    await writeFile(
      config,
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(this.dir, "data")}\n  delete:\n    enabled: true\nhttp:\n  addr: ${this.host}\n${tls}${auth}`,
    );
    this.child = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout?.on("data", (b: Buffer) => (this.log += b.toString()));
    this.child.stderr?.on("data", (b: Buffer) => (this.log += b.toString()));
    await waitFor(
      async () => [200, 401].includes(await this.status("/v2/").catch(() => 0)) || undefined,
      30_000,
      `registry on ${this.host}`,
    );
  }

  /** The registry's status for GET `path` without credentials (over TLS trusting the test's CA). */
  async status(path: string, headers: Record<string, string> = {}): Promise<number> {
    const tls = this.opts.tls;
    if (!tls) return (await fetch(`http://${this.host}${path}`, { headers })).status;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`https://${this.host}${path}`, { ca: tls.ca, headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
  }

  /** Where the registry keeps a blob's bytes (for tests that tamper with what it serves). */
  blobFile(digest: string): string {
    const hex = digest.replace(/^sha256:/, "");
    return join(this.dir, "data", "docker", "registry", "v2", "blobs", "sha256", hex.slice(0, 2), hex, "data");
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    // A registry killed by its signal has exitCode null: it is gone all the same (a second stop).
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await gone;
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = "";
  }
}
