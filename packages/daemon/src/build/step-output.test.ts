import { describe, expect, it } from "vitest";
import { BUILD_OUTPUT_BYTES, STEP_OUTPUT_BYTES, StepOutput, TAIL_BYTES } from "./step-output.js";

function collect(build: object): { out: StepOutput; shown: string[] } {
  const shown: string[] = [];
  return { out: new StepOutput(build, (_s, t) => shown.push(t)), shown };
}

describe("StepOutput", () => {
  it("shows small output as it comes, with nothing added at the end", () => {
    const { out, shown } = collect({});
    out.write("stdout", Buffer.from("hello\n"));
    out.finish();
    expect(shown).toEqual(["hello\n"]);
    expect(out.lastLines(5)).toEqual(["hello"]);
  });

  it("caps a step at its limit, then adds a marker and the last bytes", () => {
    const { out, shown } = collect({});
    const chunk = Buffer.alloc(64 << 10, "x");
    for (let i = 0; i < 64; i++) out.write("stdout", chunk);
    out.write("stderr", Buffer.from("\nlast line\n"));
    out.finish();
    const text = shown.join("");
    expect(text.length).toBeLessThan(STEP_OUTPUT_BYTES + TAIL_BYTES + 512);
    expect(text).toMatch(/\[sbx: \d+ bytes of this step's output were left out/);
    expect(text.endsWith("last line\n")).toBe(true);
    expect(out.lastLines(1)).toEqual(["last line"]);
  });

  it("shares one allowance between the steps of a build", () => {
    const build = {};
    const chunk = Buffer.alloc(STEP_OUTPUT_BYTES, "y");
    let shownTotal = 0;
    for (let step = 0; step < BUILD_OUTPUT_BYTES / STEP_OUTPUT_BYTES + 2; step++) {
      const { out, shown } = collect(build);
      out.write("stdout", chunk);
      shownTotal += shown.join("").length;
    }
    expect(shownTotal).toBe(BUILD_OUTPUT_BYTES);
    // Another build has its own.
    const { out, shown } = collect({});
    out.write("stdout", chunk);
    expect(shown.join("").length).toBe(STEP_OUTPUT_BYTES);
  });
});
