// The terminal byte budget: a burst is free, then every byte over the rate costs time to drain.
import { describe, expect, it } from "vitest";
import { OutputMeter } from "./output-meter.js";

describe("OutputMeter", () => {
  it("lets a burst through, then asks to wait what the excess takes at the rate", () => {
    let now = 0;
    const m = new OutputMeter(1000, 500, () => now);
    expect(m.charge(500)).toBe(0);
    expect(m.charge(250)).toBe(250);
    now += 250;
    expect(m.charge(0)).toBe(0);
    // Refills up to the burst only, however long it was quiet.
    now += 60_000;
    expect(m.charge(600)).toBe(100);
  });
});
