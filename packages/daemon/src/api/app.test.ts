// The HTTP layer on fake services: request validation and error mapping.
import { describe, expect, it } from "vitest";
import { ERROR_CODES, type ErrorCode } from "@sbx-sh/protocol";
import { MAX_JSON_BYTES } from "./body-limits.js";
import { expectError, setupApp as setup } from "./testing/fake-app.js";

describe("request validation", () => {
  it.each([
    [{ cpus: 1000 }, "out_of_range", /cpus/],
    [{ memoryMb: 8 }, "out_of_range", /memoryMb/],
    [{ timeoutSecs: -1 }, "out_of_range", /timeoutSecs/],
    [{ bogus: true }, "invalid_argument", /bogus/],
    [{ cpus: "two" }, "invalid_argument", /cpus/],
    [{ memoryMb: 512.5 }, "invalid_argument", /memoryMb/],
    [{ env: { "1BAD": "x" } }, "invalid_argument", /env/],
  ])("POST /v1/sandboxes %j → 400 %s", async (json, code, mentions) => {
    const t = setup();
    const r = await t.call("POST", "/v1/sandboxes", { json });
    expectError(r, 400, code);
    expect(r.body.error?.message).toMatch(mentions);
    expect(t.sandboxes.create).not.toHaveBeenCalled();
  });

  it.each([
    ["timeoutSecs", 1e99, /<=604800/],
    ["timeoutSecs", -1e99, />=0/],
    ["memoryMb", 1e99, /<=\d+/],
  ])("says one thing about %s: %d, the field's own limit", async (field, value, limit) => {
    const t = setup();
    const r = await t.call("POST", "/v1/sandboxes", { json: { [field]: value } });
    expectError(r, 400, "out_of_range");
    expect(r.body.error?.message).toMatch(limit);
    expect(r.body.error?.message).not.toContain(String(Number.MAX_SAFE_INTEGER));
    expect((r.body.error?.details as { issues: string[] }).issues).toHaveLength(1);
    expect(t.sandboxes.create).not.toHaveBeenCalled();
  });

  it("keeps the safe-integer bound when it is all there is to say", async () => {
    const r = await setup().call("POST", "/v1/pools", { json: { warm: 1, timeoutSecs: 1e99 } });
    expectError(r, 400, "out_of_range");
    expect((r.body.error?.details as { issues: string[] }).issues).toEqual([
      `timeoutSecs: Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`,
    ]);
  });

  it("validates exec bodies and query enums too", async () => {
    const t = setup();
    expectError(await t.call("POST", "/v1/sandboxes/sb-1/exec", { json: {} }), 400, "invalid_argument");
    expectError(
      await t.call("POST", "/v1/sandboxes/sb-1/exec", { json: { command: "ls", timeoutSecs: 0 } }),
      400,
      "out_of_range",
    );
    expectError(await t.call("GET", "/v1/sandboxes?all=yes"), 400, "invalid_argument");
    expect(t.processes.start).not.toHaveBeenCalled();
    expect(t.sandboxes.list).not.toHaveBeenCalled();
  });

  it("refuses NUL bytes and oversized env values for exec, and JSON bodies over the cap (413), before any service", async () => {
    const t = setup();
    expectError(
      await t.call("POST", "/v1/sandboxes/sb-1/exec", { json: { command: "a\u0000b" } }),
      400,
      "invalid_argument",
    );
    expectError(
      await t.call("POST", "/v1/sandboxes/sb-1/processes", { json: { command: "ls", args: ["\u0000"] } }),
      400,
      "invalid_argument",
    );
    expectError(await t.call("POST", "/v1/sandboxes", { json: { env: { A: "x\u0000" } } }), 400, "invalid_argument");
    expectError(
      await t.call("POST", "/v1/sandboxes", { json: { env: { A: "x".repeat(65537) } } }),
      400,
      "invalid_argument",
    );
    expectError(
      await t.call("POST", "/v1/sandboxes", { json: { name: "x".repeat(MAX_JSON_BYTES) } }),
      413,
      "payload_too_large",
    );
    expect(t.processes.start).not.toHaveBeenCalled();
    expect(t.sandboxes.create).not.toHaveBeenCalled();
  });

  it("passes a valid body through and answers the API shape", async () => {
    const t = setup();
    const r = await t.call("POST", "/v1/sandboxes", { json: { cpus: 2, env: { A_1: "x" } } });
    expect(r.status).toBe(201);
    expect(t.sandboxes.create).toHaveBeenCalledWith("default", { cpus: 2, env: { A_1: "x" } });
    expect(r.body).toMatchObject({ id: "sb-new", project: "default", status: "running" });
    expect(r.body).not.toHaveProperty("config");
    expect(r.body).not.toHaveProperty("netSlot");
  });
});

describe("error mapping", () => {
  it("maps SbxErrors from services to their status", async () => {
    const t = setup();
    const missing = await t.call("GET", "/v1/sandboxes/nope");
    expectError(missing, 404, "sandbox_not_found");
    expect(missing.body.error?.message).toBe('sandbox "nope" does not exist in project default');
    expectError(await t.call("POST", "/v1/projects", { json: { name: "team-a" } }), 409, "already_exists");
  });

  it.each(Object.keys(ERROR_CODES) as ErrorCode[])("%s → its HTTP status", async (code) => {
    const r = await setup().call("GET", `/v1/sandboxes/err-${code}`);
    expectError(r, ERROR_CODES[code], code);
    expect(r.body.error?.message).toBe(`scripted ${code}`);
  });

  it("turns other exceptions into 500 internal and logs them", async () => {
    const t = setup();
    expectError(await t.call("GET", "/v1/sandboxes/boom"), 500, "internal");
    expect(t.log.error).toHaveBeenCalledTimes(1);
  });

  it("answers unknown routes and methods with 404 not_found JSON", async () => {
    const t = setup();
    for (const [method, path] of [
      ["GET", "/v1/nope"],
      ["GET", "/nope"],
      ["PATCH", "/v1/sandboxes"],
    ] as const) {
      const r = await t.call(method, path);
      expectError(r, 404, "not_found");
      expect(r.body.error?.message).toContain(path);
    }
  });
});
