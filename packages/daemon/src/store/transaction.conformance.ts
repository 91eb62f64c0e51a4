// The contract of transactions and network-slot allocation, shared by Store and ImageStore: all of
// a transaction or nothing, no caller outside it sees or joins it, and slots allocated by
// concurrent transactions never collide. Every store implementation runs it from its test file.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { at, sandbox } from "./testing/store-records.js";
import { image } from "./image-store.conformance.js";
import type { Store, Stores, StoreTx } from "./store.js";
import type { LayerRecord } from "../domain/records.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const layer = (key: string): LayerRecord => ({
  key,
  digest: `sha256:${key}`,
  dir: `/layers/${key}`,
  sizeBytes: 1,
  step: "RUN x",
  createdAt: at(0),
});

/** A transaction that writes, then waits (so others run meanwhile), then fails. */
async function failingAfter(store: Store, ms: number, write: (tx: StoreTx) => Promise<void>): Promise<unknown> {
  return store
    .transaction(async (tx) => {
      await write(tx);
      await sleep(ms);
      throw new Error("boom");
    })
    .catch((err: unknown) => err);
}

export function transactionConformance(name: string, open: () => Promise<Stores>): void {
  describe(`Store transactions: ${name}`, () => {
    let stores: Stores;
    let store: Store;
    beforeEach(async () => {
      stores = await open();
      store = stores.meta;
    });
    afterEach(() => stores.close());

    it("commits what fn wrote, in both stores, and resolves to its value", async () => {
      const got = await store.transaction(async (tx) => {
        await tx.insertSandbox(sandbox("sb-1"));
        await tx.putLayer(layer("k1"));
        expect((await tx.getSandbox("sb-1"))?.id).toBe("sb-1");
        return 42;
      });
      expect(got).toBe(42);
      expect((await store.getSandbox("sb-1"))?.id).toBe("sb-1");
      expect(await stores.images.getLayer("k1")).toEqual(layer("k1"));
    });

    it("rolls back everything fn wrote when it throws, and rejects with its error", async () => {
      await store.insertSandbox(sandbox("sb-old", { cpus: 1 }));
      const boom = new Error("boom");
      await expect(
        stores.images.transaction(async (tx) => {
          await tx.insertSandbox(sandbox("sb-1"));
          await tx.updateSandbox("sb-old", { cpus: 4 });
          await tx.putLayer(layer("k1"));
          await tx.registerImage(image("img-1"), false);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await store.getSandbox("sb-1")).toBeUndefined();
      expect((await store.getSandbox("sb-old"))?.cpus).toBe(1);
      expect(await stores.images.getLayer("k1")).toBeUndefined();
      expect(await stores.images.listAllImages()).toEqual([]);
    });

    it("keeps its writes from plain calls made while it is open", async () => {
      const tx = failingAfter(store, 30, (t) => t.insertSandbox(sandbox("sb-x", { netSlot: 3 })));
      await sleep(5);
      expect(await store.getSandbox("sb-x")).toBeUndefined();
      expect(await store.listSandboxes({ includeTerminated: true })).toEqual([]);
      expect([...(await store.usedNetSlots())]).toEqual([]);
      expect(await tx).toBeInstanceOf(Error);
      expect(await store.getSandbox("sb-x")).toBeUndefined();
    });

    it("never lets a plain write made while it is open join it (nor its rollback)", async () => {
      const tx = failingAfter(store, 30, (t) => t.insertSandbox(sandbox("sb-x")));
      await sleep(5);
      await store.insertSandbox(sandbox("sb-y"));
      await stores.images.putLayer(layer("k-y"));
      expect(await tx).toBeInstanceOf(Error);
      expect((await store.getSandbox("sb-y"))?.id).toBe("sb-y");
      expect(await stores.images.getLayer("k-y")).toEqual(layer("k-y"));
      expect(await store.getSandbox("sb-x")).toBeUndefined();
    });

    it("refuses a tx used after its transaction ended", async () => {
      let kept: StoreTx | undefined;
      await store.transaction(async (tx) => {
        kept = tx;
      });
      await expect(kept!.insertSandbox(sandbox("sb-late"))).rejects.toThrow();
      expect(await store.getSandbox("sb-late")).toBeUndefined();
    });

    describe("network slots", () => {
      it("allocates the lowest slot no live sandbox holds and no reservation names", async () => {
        expect(await store.allocateNetSlot(8)).toBe(0);
        await store.insertSandbox(sandbox("sb-0", { netSlot: 0 }));
        await store.insertSandbox(sandbox("sb-1", { netSlot: 1, status: "terminated" }));
        await store.insertSandbox(sandbox("sb-2", { netSlot: 2, status: "suspended" }));
        expect(await store.allocateNetSlot(8)).toBe(1);
        expect(await store.allocateNetSlot(8, new Set([1, 3]))).toBe(4);
      });

      it("fails with failed_precondition when every slot is taken", async () => {
        await store.insertSandbox(sandbox("sb-0", { netSlot: 0 }));
        const err = await store.allocateNetSlot(2, new Set([1])).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SbxError);
        expect((err as SbxError).code).toBe("failed_precondition");
        expect((err as SbxError).message).toMatch(/all 2 are in use/);
      });

      it("gives concurrent transactions distinct slots", async () => {
        const made = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            store.transaction(async (tx) => {
              const slot = await tx.allocateNetSlot(16);
              await sleep(i % 3);
              await tx.insertSandbox(sandbox(`sb-${i}`, { netSlot: slot, createdAt: at(i) }));
              return slot;
            }),
          ),
        );
        expect([...made].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
        expect([...(await store.usedNetSlots())].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      });
    });
  });
}
