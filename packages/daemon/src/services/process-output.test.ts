// ProcessOutputs: a follower is woken by the exit, also one recorded while it was reading (the
// case of every short command), instead of sleeping until its next poll. The poll timer is faked
// and never fires here, so a follower that ends has been woken by the exit itself. And who counts
// as reading a process (its output is then never pruned): from the call on, not the first next().
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ProcessOutputEvent, ProcessRecord } from "../domain/records.js";
import type { ProcessHandle } from "../runtime/runtime.js";
import type { Store } from "../store/store.js";
import { ProcessOutputs, UNSTARTED_HOLD_MS } from "./process-output.js";

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

describe("ProcessOutputs.read (who is reading)", () => {
  function ended() {
    const rec = { ...record(), status: "exited" as const, exitCode: 0, endedAt: new Date().toISOString() };
    const store = { getProcess: async () => ({ ...rec }) } as unknown as Store;
    const handle = {
      read: async (stream: string, offset: number) => Buffer.from(stream === "stdout" && offset === 0 ? "out" : ""),
    } as unknown as ProcessHandle;
    return { rec, outputs: new ProcessOutputs(store), handle };
  }

  it("counts a reader from the call, before its first next(), until its events end", async () => {
    const { rec, outputs, handle } = ended();
    // What an exec answers with: the events, not read yet. A concurrent start's pruning looks now.
    const events = outputs.read(rec, handle, true);
    expect(outputs.isBeingRead(rec.id)).toBe(true);
    const types: string[] = [];
    for await (const ev of events) types.push(ev.type);
    expect(types).toEqual(["stdout", "exit"]);
    expect(outputs.isBeingRead(rec.id)).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("uncounts a reader returned before its first next(), and counts two readers apart", async () => {
    const { rec, outputs, handle } = ended();
    const a = outputs.read(rec, handle, true);
    const b = outputs.read(rec, handle, true);
    await a.return(undefined);
    expect(outputs.isBeingRead(rec.id)).toBe(true);
    await b.return(undefined);
    expect(outputs.isBeingRead(rec.id)).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a reader that is never iterated stops counting after UNSTARTED_HOLD_MS; iterated later, it counts again", async () => {
    const { rec, outputs, handle } = ended();
    const events = outputs.read(rec, handle, true);
    vi.advanceTimersByTime(UNSTARTED_HOLD_MS - 1);
    expect(outputs.isBeingRead(rec.id)).toBe(true);
    vi.advanceTimersByTime(1);
    expect(outputs.isBeingRead(rec.id)).toBe(false);
    const first = await events.next();
    expect(first.value).toMatchObject({ type: "stdout" });
    expect(outputs.isBeingRead(rec.id)).toBe(true);
    await events.return(undefined);
    expect(outputs.isBeingRead(rec.id)).toBe(false);
  });
});
