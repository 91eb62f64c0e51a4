// What a node answers about a sandbox it suspends for a move is hostile input to the control plane
// and to the node it goes to: only a well-formed description of the sandbox that was asked for, with
// resources in bounds and secrets matching its secret names, is accepted.
import { describe, expect, it } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { checkMovePayload } from "./move-spec.js";

const good = () => ({
  sandbox: {
    id: "sb-abc123",
    name: "web",
    image: "default",
    createdAt: "2026-12-06T10:00:00.000Z",
    cpus: 0.5,
    memoryMb: 256,
    pidsLimit: 1024,
    diskMb: 4096,
    timeoutSecs: 600,
    allowInternetAccess: true,
    allowOut: ["10.0.0.0/8"],
    denyOut: [],
    env: { A: "1" },
    labels: {},
    secretNames: ["TOKEN"],
    entrypoint: null,
  },
  snapshot: { id: "snap_1", manifest: `sha256:${"b".repeat(64)}` },
  secrets: { TOKEN: "x" },
});

const refusal = (raw: unknown, expect_?: { id: string; name: string | null }): string => {
  try {
    checkMovePayload(raw, expect_);
  } catch (err) {
    expect(err).toBeInstanceOf(SbxError);
    expect((err as SbxError).code).toBe("invalid_argument");
    return (err as SbxError).message;
  }
  throw new Error("accepted");
};

describe("checkMovePayload", () => {
  it("accepts a well-formed move and keeps only the known fields", () => {
    const raw = { ...good(), extra: 1, sandbox: { ...good().sandbox, netSlot: 3, config: { systemd: true } } };
    const p = checkMovePayload(raw, { id: "sb-abc123", name: "web" });
    expect(p.sandbox).toEqual(good().sandbox);
    expect(p.snapshot).toEqual(good().snapshot);
    expect(Object.keys(p)).toEqual(["sandbox", "snapshot", "secrets"]);
  });

  it("refuses another sandbox than the one asked for, unnamed ones, and bad snapshots", () => {
    expect(refusal(good(), { id: "sb-other", name: null })).toMatch(/answered for sandbox sb-abc123, not sb-other/);
    expect(refusal({ ...good(), sandbox: { ...good().sandbox, name: "" } })).toMatch(/only named sandboxes move/);
    expect(refusal({ ...good(), sandbox: { ...good().sandbox, id: "../etc" } })).toMatch(/sandbox\.id/);
    expect(refusal({ ...good(), snapshot: { id: "snap_1", manifest: "sha256:zz" } })).toMatch(/snapshot\.manifest/);
  });

  it("refuses resources out of bounds and secrets that do not match the names", () => {
    expect(refusal({ ...good(), sandbox: { ...good().sandbox, cpus: 1000 } })).toMatch(/sandbox\.cpus/);
    expect(refusal({ ...good(), sandbox: { ...good().sandbox, memoryMb: 1.5 } })).toMatch(/sandbox\.memoryMb/);
    expect(refusal({ ...good(), secrets: {} })).toMatch(/do not match/);
    expect(refusal({ ...good(), secrets: { TOKEN: "x", EXTRA: "y" } })).toMatch(/do not match/);
    expect(refusal({ ...good(), sandbox: { ...good().sandbox, env: { A: 1 } } })).toMatch(/env/);
  });
});
