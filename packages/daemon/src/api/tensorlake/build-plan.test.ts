// The Tensorlake build plan: stage order and tags, which builds need the context, and sources that
// would leave the context refused with their line.
import { describe, expect, it } from "vitest";
import { contextSource, planTlBuild } from "./build-plan.js";

describe("planTlBuild", () => {
  it("builds the stages COPY --from needs first, tagged by name or index, then the target", () => {
    const plan = planTlBuild(
      "app",
      [
        "FROM tensorlake/debian-minimal AS deps",
        "RUN echo deps > /d",
        "FROM debian-minimal",
        "RUN echo unused",
        "FROM debian-minimal AS final",
        "COPY --from=deps /d /d",
        "COPY --from=1 /etc/hostname /h",
        "RUN true",
      ].join("\n"),
    );
    expect(plan.images.map((i) => `${i.name}:${i.tag}`)).toEqual(["app:stage-deps", "app:stage-1", "app:latest"]);
    expect(plan.images[0]!.baseImage).toBe("tensorlake/debian-minimal");
    const target = plan.images[2]!;
    expect(target.steps.map((s) => (s.op === "copy_from" ? s.image : s.op))).toEqual([
      "app:stage-deps",
      "app:stage-1",
      "run",
    ]);
    expect(plan.usesContext).toBe(false);
  });

  it("marks a build that copies from the context, in any stage, with sources normalized", () => {
    const plan = planTlBuild(
      "app",
      "FROM debian-minimal AS a\nCOPY ./src/ /s\nFROM debian-minimal\nCOPY --from=a /s /s\n",
    );
    expect(plan.usesContext).toBe(true);
    expect(plan.images[0]!.steps[0]).toMatchObject({ op: "copy", src: ["src"], dest: "/s" });
  });

  it("refuses what leaves the context, naming the line", () => {
    expect(() => planTlBuild("app", "FROM debian-minimal\nCOPY a/../../x /x\n")).toThrow(/Dockerfile:2: .*outside/);
    expect(() => planTlBuild("app", "FROM debian-minimal\nCOPY --from=3 /a /b\n")).toThrow(/no such stage/);
  });
});

describe("contextSource", () => {
  it("normalizes paths inside the context", () => {
    expect(contextSource("./a//b/", "D:1")).toBe("a/b");
    expect(contextSource(".", "D:1")).toBe(".");
    expect(contextSource("a/../b", "D:1")).toBe("b");
    expect(contextSource("*.txt", "D:1")).toBe("*.txt");
  });

  it("refuses escapes, absolute paths and URLs with coded errors", () => {
    expect(() => contextSource("../x", "D:2")).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    expect(() => contextSource("a/../../x", "D:2")).toThrow(/D:2: a\/\.\.\/\.\.\/x is outside the build context/);
    expect(() => contextSource("/etc/passwd", "D:2")).toThrow(/absolute path/);
    expect(() => contextSource("https://example.com/x", "D:2")).toThrow(
      expect.objectContaining({ code: "unimplemented" }),
    );
    expect(() => contextSource("a\nb", "D:2")).toThrow(/newlines/);
  });
});
