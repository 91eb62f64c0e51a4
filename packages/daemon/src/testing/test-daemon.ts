// The real sbxd minus root, for the SDK's and CLI's unit tests: the daemon's own composition
// (API, services, SQLite store in a temp dir) on FakeRuntime, with base images on the fake layer,
// served on a unix socket in a temp dir. No mounts, crun, nft or mmdebstrap. Tests see what
// clients sent (`requests`), reach sandboxes' files through the fake (`fs(id)`), and add programs,
// failures or crafted archives on `runtime`.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { defaultConfig, type DaemonConfig } from "../config.js";
import { startDaemon, type RunningDaemon } from "../daemon.js";
import type { FakeFs } from "../runtime/testing/fake-fs.js";
import { FakeRuntime } from "../runtime/testing/fake-runtime.js";
import type { Services } from "../services/services.js";
import { withCopyStep } from "./copy-step-program.js";
import { fakeBaseImages } from "./fake-base-images.js";
import { freePort } from "./free-port.js";
import { RequestRecorder, type RecordedRequest } from "./request-recorder.js";
import { scriptedPrograms } from "./scripted-programs.js";

export type { RecordedRequest };

export interface TestDaemonOptions {
  /** Base image names, all on the fake base layer (default: debian-minimal). */
  baseImages?: string[];
  /** Also serve TCP with TLS on 127.0.0.1 (a free port; see `tcpHost`), with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
}

export class TestDaemon {
  readonly runtime = new FakeRuntime();
  /** The daemon's log lines (JSON), kept for a failing test to print. */
  readonly logs: string[] = [];
  private readonly recorder = new RequestRecorder();
  private daemon: RunningDaemon | undefined;

  private constructor(
    readonly dir: string,
    readonly config: DaemonConfig,
  ) {}

  static async start(opts: TestDaemonOptions = {}): Promise<TestDaemon> {
    const dir = await mkdtemp(join(tmpdir(), "sbx-test-daemon-"));
    const config: DaemonConfig = {
      ...defaultConfig({}),
      socket: join(dir, "sbxd.sock"),
      dataDir: join(dir, "data"),
      runDir: join(dir, "run"),
      cacheDir: join(dir, "cache"),
      warmPool: 0,
      proxyListen: null,
      ...(opts.tls && { listenTcp: `127.0.0.1:${await freePort()}`, tlsCert: opts.tls.cert, tlsKey: opts.tls.key }),
    };
    const t = new TestDaemon(dir, config);
    const sh = t.runtime.programs.get("sh")!;
    t.runtime.addProgram("sh", withCopyStep(sh));
    for (const [name, program] of scriptedPrograms()) t.runtime.addProgram(name, program);
    const log = pino({ level: "debug" }, { write: (line: string) => void t.logs.push(line) });
    t.daemon = await startDaemon(config, {
      log,
      runtime: t.runtime,
      baseImages: fakeBaseImages(opts.baseImages),
      wrapHandler: (handler) => t.recorder.wrap(handler),
    });
    return t;
  }

  /** For clients: `new SandboxClient({ host: daemon.host })`. */
  get host(): string {
    return `unix://${this.config.socket}`;
  }

  /** The TLS listener's address (`https://127.0.0.1:PORT`), when started with `tls`; it wants a bearer token. */
  get tcpHost(): string {
    if (!this.config.listenTcp) throw new Error("the test daemon was started without tls");
    return `https://${this.config.listenTcp}`;
  }

  /** Every request clients sent, oldest first. */
  get requests(): RecordedRequest[] {
    return this.recorder.requests;
  }

  /** When set, response bodies arrive in pieces of this many bytes (clients' stream decoding). */
  set sliceResponses(bytes: number | undefined) {
    this.recorder.sliceResponses = bytes;
  }

  /** The daemon's services, for looking at its state without a request of its own. */
  get services(): Services {
    if (!this.daemon) throw new Error("the test daemon is not running");
    return this.daemon.services;
  }

  /** A sandbox's files as the sandbox sees them. */
  fs(sandboxId: string): FakeFs {
    const sb = this.runtime.sandboxes.get(sandboxId);
    if (!sb) throw new Error(`no sandbox ${sandboxId} in the fake runtime`);
    return sb.fs;
  }

  async stop(): Promise<void> {
    await this.daemon?.close();
    this.daemon = undefined;
    await rm(this.dir, { recursive: true, force: true });
  }
}
