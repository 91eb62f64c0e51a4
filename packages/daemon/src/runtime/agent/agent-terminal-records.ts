// Terminals that outlive the daemon: the agent (version 2) keeps a terminal running when the
// daemon's connection drops, and the daemon keeps what it needs to show it again (the caller's
// opaque record: command, size, creation time) in the sandbox's host-only state dir, where code in
// the sandbox cannot write. A restarted daemon lists these, re-attaches, and drops them on exit.
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

const DIR = "terminals";
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** A record is a few hundred bytes; anything bigger is not one of ours. */
const MAX_RECORD = 64 * 1024;

export async function saveTerminalRecord(stateDir: string, termId: string, record: unknown): Promise<void> {
  await mkdir(join(stateDir, DIR), { recursive: true, mode: 0o700 });
  await writeFile(join(stateDir, DIR, `${termId}.json`), JSON.stringify(record), { mode: 0o600 });
}

export async function dropTerminalRecord(stateDir: string, termId: string): Promise<void> {
  await rm(join(stateDir, DIR, `${termId}.json`), { force: true });
}

/** The kept records, by terminal id; unreadable ones are dropped. */
export async function loadTerminalRecords(stateDir: string): Promise<Array<{ termId: string; record: unknown }>> {
  const names = await readdir(join(stateDir, DIR)).catch(() => [] as string[]);
  const out: Array<{ termId: string; record: unknown }> = [];
  for (const name of names) {
    const termId = name.replace(/\.json$/, "");
    if (!name.endsWith(".json") || !ID_RE.test(termId)) continue;
    try {
      const text = await readFile(join(stateDir, DIR, name), "utf8");
      if (text.length > MAX_RECORD) throw new Error("too large");
      out.push({ termId, record: JSON.parse(text) as unknown });
    } catch {
      await dropTerminalRecord(stateDir, termId);
    }
  }
  return out;
}
