// TransactionGate: plain calls run at once when the gate is free and wait while an exclusive run
// is open; a call from inside the open run fails at once instead of waiting for itself.
import { describe, expect, it } from "vitest";
import { TransactionGate } from "./transaction-gate.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("TransactionGate", () => {
  it("runs a plain call synchronously when nothing is open, errors as rejections", async () => {
    const gate = new TransactionGate();
    let ran = false;
    const p = gate.call(() => (ran = true));
    expect(ran).toBe(true);
    await expect(p).resolves.toBe(true);
    await expect(
      gate.call(() => {
        throw new Error("bad");
      }),
    ).rejects.toThrow("bad");
  });

  it("holds plain calls and other exclusive runs until the open one ends, in order", async () => {
    const gate = new TransactionGate();
    const order: string[] = [];
    const first = gate.exclusive(async () => {
      order.push("tx1 start");
      await sleep(20);
      order.push("tx1 end");
    });
    const plain = gate.call(() => order.push("plain"));
    const second = gate.exclusive(async () => {
      order.push("tx2");
    });
    await Promise.all([first, plain, second]);
    expect(order).toEqual(["tx1 start", "tx1 end", "plain", "tx2"]);
    // Free again: plain calls are immediate.
    let ran = false;
    void gate.call(() => (ran = true));
    expect(ran).toBe(true);
  });

  it("fails a call made from inside the open run instead of deadlocking", async () => {
    const gate = new TransactionGate();
    await gate.exclusive(async () => {
      await expect(gate.call(() => 1)).rejects.toThrow(/inside a transaction/);
      await expect(gate.exclusive(async () => 1)).rejects.toThrow(/inside a transaction/);
    });
    // What the open run started and outlives it is outside afterwards.
    await expect(gate.call(() => 2)).resolves.toBe(2);
  });

  it("frees the gate when the exclusive run throws", async () => {
    const gate = new TransactionGate();
    await expect(
      gate.exclusive(async () => {
        throw new Error("x");
      }),
    ).rejects.toThrow("x");
    let ran = false;
    void gate.call(() => (ran = true));
    expect(ran).toBe(true);
  });
});
