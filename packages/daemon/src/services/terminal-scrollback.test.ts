// Scrollback keeps the last bytes written, whatever the chunks, and nothing before the first write.
import { describe, expect, it } from "vitest";
import { Scrollback } from "./terminal-scrollback.js";

describe("Scrollback", () => {
  it("keeps the last bytes written, across chunk boundaries", () => {
    const s = new Scrollback(10);
    s.push(Buffer.from("abcdef"));
    s.push(Buffer.from("ghij"));
    expect(s.contents().toString()).toBe("abcdefghij");
    s.push(Buffer.from("kl"));
    expect(s.contents().toString()).toBe("cdefghijkl");
    s.push(Buffer.from("0123456789XYZ"));
    expect(s.contents().toString()).toBe("3456789XYZ");
  });

  it("is empty before anything is written", () => {
    expect(new Scrollback(4).contents().length).toBe(0);
  });
});
