// `sbx tunnel`'s ports are checked before anything listens or calls the daemon: the daemon would
// see the sandbox port only when a connection came, and Node's listen() throws an uncoded error.
import { describe, expect, it } from "vitest";
import { runCliCaptured } from "../testing/capture.js";

/** No daemon there: a check that waited for one would fail with "cannot reach" instead. */
const NOWHERE = "unix:///nonexistent/sbx-ports-test.sock";

describe("sbx tunnel", () => {
  it("refuses a sandbox port or a local port that is not a TCP port, with a coded error", async () => {
    for (const args of [["0"], ["70000"], ["5432", "-l", "70000"]]) {
      const r = await runCliCaptured(NOWHERE, ["tunnel", "sb-x", ...args]);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toMatch(/^error: port \d+ is not a TCP port: use 1\.\.65535$/m);
    }
  });
});
