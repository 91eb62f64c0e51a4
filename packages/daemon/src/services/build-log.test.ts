// Unit tests of a build's event log: followers see events as they come, the file replays them.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { BuildEvent } from "../domain/build-events.js";
import { BuildLog, replayBuildLog } from "./build-log.js";

const dir = mkdtempSync(join(tmpdir(), "sbx-build-log-"));
afterEach(() => rmSync(join(dir, "b.ndjson"), { force: true }));

async function all(events: AsyncIterable<BuildEvent>): Promise<BuildEvent[]> {
  const out: BuildEvent[] = [];
  for await (const ev of events) out.push(ev);
  return out;
}

describe("BuildLog", () => {
  it("a follower gets what was logged and what comes, up to the done event; the file replays it", async () => {
    const log = new BuildLog(join(dir, "b.ndjson"));
    const step: BuildEvent = { type: "step", step: 1, total: 1, text: "run true", cached: false, key: "k" };
    log.append(step);
    const followed = all(log.read(true));
    const done = { type: "done", build: { id: "bld-1" }, image: null } as unknown as BuildEvent;
    setTimeout(() => log.append(done), 10);
    expect(await followed).toEqual([step, done]);
    await log.flushed();
    expect(await all(replayBuildLog(join(dir, "b.ndjson")))).toEqual([step, done]);
  });

  it("without follow, only what is there; a missing file replays nothing", async () => {
    const log = new BuildLog(join(dir, "b.ndjson"));
    log.append({ type: "log", step: 1, stream: "stdout", data: "hi\n" });
    expect(await all(log.read(false))).toHaveLength(1);
    expect(await all(replayBuildLog(join(dir, "none.ndjson")))).toEqual([]);
    // The log's own append must land first, or it would add its line to the file written below.
    await log.flushed();
    writeFileSync(join(dir, "b.ndjson"), '{"type":"log","step":1,"stream":"stderr","data":"x"}\n\n');
    expect(await all(replayBuildLog(join(dir, "b.ndjson")))).toHaveLength(1);
  });
});
