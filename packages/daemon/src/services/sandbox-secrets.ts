// Secrets given at create (`--secret NAME=VALUE`, the SDK's `secrets`): injected into every
// process and terminal of the sandbox as environment variables, like `env`, but never stored in
// the metadata database and never answered by the API (which shows their names only). Each
// sandbox's secrets are one JSON file, mode 0600 in a 0700 directory, written before the sandbox
// is announced and removed when it ends; a suspended sandbox keeps them for its resume.
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { SbxError } from "@sbx-sh/protocol";
import type { SandboxEvents } from "./sandbox-events.js";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class SandboxSecrets {
  constructor(
    private readonly dir: string,
    events: SandboxEvents,
  ) {
    events.on("ended", (sb) => this.remove(sb.id));
  }

  /** Refuses names that cannot be environment variables (the API's schema does too). */
  static check(secrets: Record<string, string>): void {
    for (const name of Object.keys(secrets))
      if (!ENV_NAME.test(name))
        throw new SbxError(
          "invalid_argument",
          `secret name ${JSON.stringify(name)} is not an environment variable name: letters, digits and _, not starting with a digit`,
        );
  }

  async put(id: string, secrets: Record<string, string>): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.${id}.${randomBytes(4).toString("hex")}`);
    // Created 0600 before a byte is written, then renamed into place: never readable by others, never half written.
    await writeFile(tmp, JSON.stringify(secrets), { mode: 0o600, flag: "wx" });
    await rename(tmp, this.file(id));
  }

  async get(id: string): Promise<Record<string, string>> {
    const text = await readFile(this.file(id), "utf8").catch(() => undefined);
    return text ? (JSON.parse(text) as Record<string, string>) : {};
  }

  async remove(id: string): Promise<void> {
    await rm(this.file(id), { force: true });
  }

  private file(id: string): string {
    if (!/^[a-z0-9-]+$/.test(id)) throw new SbxError("internal", `bad sandbox id ${JSON.stringify(id)}`);
    return join(this.dir, `${id}.json`);
  }
}
