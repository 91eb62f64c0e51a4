// The daemon the Tensorlake contract tests drive: a real sbxd with a TCP listener (where the
// Tensorlake routes are served), an admin client on its socket, and a project token as the SDK's key.
import { SandboxClient } from "@sbx-sh/sdk";
import { freePort, TestDaemon } from "../harness.js";
import { ensureSdk, type SdkTarget } from "./sdk.js";

export interface TensorlakeDaemon {
  daemon: TestDaemon;
  admin: SandboxClient;
  target: SdkTarget;
  /** http://127.0.0.1:<port> of the TCP listener. */
  base: string;
  stop(): Promise<void>;
}

export async function startTensorlakeDaemon(name: string, netIndex: number): Promise<TensorlakeDaemon> {
  ensureSdk();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const daemon = new TestDaemon({ name, netIndex, extraArgs: ["--listen-tcp", `127.0.0.1:${port}`] });
  await daemon.reset();
  await daemon.start();
  const admin = new SandboxClient({ host: daemon.host });
  const target = { apiUrl: base, apiKey: (await admin.createToken("default")).token! };
  return {
    daemon,
    admin,
    target,
    base,
    async stop() {
      for (const s of await admin.list().catch(() => [])) await admin.terminate(s.id).catch(() => undefined);
      await daemon.stop();
    },
  };
}
