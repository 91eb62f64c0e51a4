// Records and checks the store's conformance suites share: a sandbox or process record with
// everyday values (override what a test is about), fixed timestamps, and the error a call must fail with.
import { expect } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import type { ProcessRecord, SandboxRecord } from "../../domain/records.js";

/** A distinct, sortable timestamp: second `n` of a fixed day. */
export const at = (n: number): string => new Date(Date.UTC(2024, 0, 1, 0, 0, n)).toISOString();

export function sandbox(id: string, over: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    id,
    project: "default",
    name: null,
    image: "debian-minimal",
    imageId: "sha256:abc",
    status: "running",
    cpus: 1.5,
    memoryMb: 512,
    pidsLimit: 256,
    diskMb: 2048,
    timeoutSecs: 600,
    allowInternetAccess: true,
    env: { FOO: "bar", EMPTY: "" },
    config: { env: ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"], workingDir: "/work", user: "1000:1000" },
    netSlot: null,
    ipAddress: null,
    createdAt: at(0),
    startedAt: null,
    terminatedAt: null,
    terminationReason: null,
    ...over,
  };
}

export function proc(id: string, sandboxId: string, over: Partial<ProcessRecord> = {}): ProcessRecord {
  return {
    id,
    sandboxId,
    command: "sh",
    args: ["-c", "echo hi"],
    status: "running",
    exitCode: null,
    signal: null,
    timedOut: false,
    stdin: false,
    hostPid: 4242,
    deadline: null,
    startedAt: at(0),
    endedAt: null,
    ...over,
  };
}

/** Asserts that the call fails with an SbxError with the given code. */
export async function expectSbxError(call: Promise<unknown>, code: string): Promise<void> {
  let thrown: unknown;
  try {
    await call;
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected an SbxError ${code}`).toBeInstanceOf(SbxError);
  expect((thrown as SbxError).code).toBe(code);
}

export const ids = (records: { id: string }[]): string[] => records.map((r) => r.id);
