// ProcessOutputs: a follower is woken by the exit, also one recorded while it was reading (the
// case of every short command), instead of sleeping until its next poll. The poll timer is faked
// and never fires here, so a follower that ends has been woken by the exit itself.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ProcessOutputEvent, ProcessRecord } from "../domain/records.js";
import type { ProcessHandle } from "../runtime/runtime.js";
import type { Store } from "../store/store.js";
import { ProcessOutputs } from "./process-output.js";

const record = (): ProcessRecord => ({
  id: "pr-1",
  sandboxId: "sb-1",
  command: "true",
  args: [],
  status: "running",
  exitCode: null,
  signal: null,
  timedOut: false,
  stdin: false,
  hostPid: null,
  deadline: null,
  startedAt: new Date().toISOString(),
  endedAt: null,
});

/** Lets every pending callback and promise run (setImmediate is not faked). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

beforeEach(() => void vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
afterEach(() => void vi.useRealTimers());

describe("ProcessOutputs.read (follow)", () => {
  function setup(onRead: (outputs: ProcessOutputs, rec: ProcessRecord, reads: number) => void) {
    const rec = record();
    const store = { getProcess: async () => ({ ...rec }) } as unknown as Store;
    const outputs = new ProcessOutputs(store);
    let reads = 0;
    const handle = {
      read: async (stream: string) => {
        reads++;
        onRead(outputs, rec, reads);
        return Buffer.from(stream === "stdout" && reads === 1 ? "hi" : "");
      },
    } as unknown as ProcessHandle;
    const got: ProcessOutputEvent[] = [];
    let ended = false;
    const done = (async () => {
      for await (const ev of outputs.read(rec, handle, true)) got.push(ev);
      ended = true;
    })();
    return { got, done, isEnded: () => ended, rec, outputs };
  }

  it("ends at once when the exit is recorded while it reads the output", async () => {
    const f = setup((outputs, rec, reads) => {
      if (reads !== 1) return;
      // The completion lands between the follower's look at the record and its wait.
      Object.assign(rec, { status: "exited", exitCode: 0, endedAt: new Date().toISOString() });
      outputs.exited(rec.id);
    });
    await settle();
    expect(f.isEnded()).toBe(true);
    await f.done;
    expect(f.got.map((e) => e.type)).toEqual(["stdout", "exit"]);
    expect(f.got.at(-1)).toEqual({ type: "exit", exitCode: 0, signal: null, timedOut: false });
  });

  it("waits while the process runs, and is woken by a later exit", async () => {
    const f = setup(() => undefined);
    await settle();
    expect(f.isEnded()).toBe(false);
    Object.assign(f.rec, { status: "exited", exitCode: 7, endedAt: new Date().toISOString() });
    f.outputs.exited(f.rec.id);
    await settle();
    expect(f.isEnded()).toBe(true);
    await f.done;
    expect(f.got.at(-1)).toEqual({ type: "exit", exitCode: 7, signal: null, timedOut: false });
    // No timer or listener is left behind by the finished follower.
    expect(vi.getTimerCount()).toBe(0);
  });
});
