// Network slots held outside the store: a build step's sandbox and a warm-pool blank have a veth
// and an address but no sandbox record. The store allocates slots (the lowest free one, in the
// transaction that records it); these are passed along so it never hands out one of them.
import type { Store, StoreTx } from "../store/store.js";

export class NetSlots {
  private readonly reserved = new Set<number>();

  constructor(
    private readonly store: Store,
    /** How many slots the runtime's subnet has. */
    private readonly capacity: number,
  ) {}

  /** A free slot, for the write in the same transaction that makes a sandbox record hold it. */
  allocate(tx: StoreTx): Promise<number> {
    return tx.allocateNetSlot(this.capacity, this.reserved);
  }

  /** A slot for a sandbox the store does not know (a build step, a blank); release it after. */
  reserve(): Promise<number> {
    // Chosen and reserved inside a transaction, so no create's allocation runs in between.
    return this.store.transaction(async (tx) => {
      const slot = await this.allocate(tx);
      this.reserved.add(slot);
      return slot;
    });
  }

  /** The slot is free again: its veth is gone, or a sandbox record holds it now. */
  release(slot: number): void {
    this.reserved.delete(slot);
  }
}
