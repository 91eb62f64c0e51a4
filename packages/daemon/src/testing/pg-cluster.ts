// A throwaway PostgreSQL server for tests, from Debian's `postgresql` package: initdb into a temp
// dir, pg_ctl start on a free loopback port, and stop + delete at the end. Tuned for speed (no
// fsync): nothing here must survive a crash. PostgreSQL refuses to run as root, so as root the
// binaries run as the `postgres` user the package creates (runuser, in util-linux on Debian 12
// and 13); anyone else runs them as themselves.
import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./free-port.js";

const run = promisify(execFile);

export interface PgCluster {
  /** postgres://sbx@127.0.0.1:PORT/postgres (trust auth on loopback). */
  url: string;
  /**
   * Stops the server (fast: open connections are cut, as a crash or failover would), keeps it down
   * for `downMs`, and starts it again on the same port and data. Only for a server the caller owns.
   */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** The newest /usr/lib/postgresql/<ver>/bin with initdb, or undefined when the package is missing. */
export function findPgBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = findPgBin();
  if (!bin)
    throw new Error(
      "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup-host.sh --with-test-tools",
    );
  const asRoot = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), "sbx-pg-"));
  if (asRoot) chownSync(dir, Number((await run("id", ["-u", "postgres"])).stdout), 0);
  const pg = (tool: string, args: string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", join(bin, tool), ...args]) : run(join(bin, tool), args);
  const data = join(dir, "data");
  const port = await freePort();
  const log = join(dir, "server.log");
  let opts = "";
  const start = () => pg("pg_ctl", ["-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start"]);
  try {
    await pg("initdb", ["-D", data, "-A", "trust", "-U", "sbx", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]);
    opts = [
      "-c listen_addresses=127.0.0.1",
      `-p ${port}`,
      `-k ${dir}`,
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
      "-c max_connections=200",
    ].join(" ");
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgres://sbx@127.0.0.1:${port}/postgres`,
    async restart(downMs = 0) {
      await pg("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    async stop() {
      await pg("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
