// Small helpers shared by the route files: response/request declarations and record → API shape.
import type { z } from "@hono/zod-openapi";
import type { ProcessRecord, SandboxRecord } from "../../domain/records.js";
import type { ProcessT, SandboxT } from "../schemas.js";

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { content: { "application/json": { schema } }, description };
}

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { body: { content: { "application/json": { schema } }, required: true } };
}

export function toSandbox(r: SandboxRecord): SandboxT {
  return {
    id: r.id,
    name: r.name,
    project: r.project,
    image: r.image,
    imageId: r.imageId,
    status: r.status,
    cpus: r.cpus,
    memoryMb: r.memoryMb,
    pidsLimit: r.pidsLimit,
    diskMb: r.diskMb,
    timeoutSecs: r.timeoutSecs,
    allowInternetAccess: r.allowInternetAccess,
    allowOut: r.allowOut ?? [],
    denyOut: r.denyOut ?? [],
    egressEntries: r.egressEntries ?? { allowOut: r.allowOut ?? [], denyOut: r.denyOut ?? [] },
    egressHosts: r.egressHosts ?? {},
    env: r.env,
    ipAddress: r.ipAddress,
    snapshotId: r.snapshotId ?? null,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    terminatedAt: r.terminatedAt,
    terminationReason: r.terminationReason,
  };
}

export function toProcess(p: ProcessRecord): ProcessT {
  return {
    id: p.id,
    sandboxId: p.sandboxId,
    command: p.command,
    args: p.args,
    status: p.status,
    exitCode: p.exitCode,
    signal: p.signal,
    timedOut: p.timedOut,
    stdin: p.stdin,
    startedAt: p.startedAt,
    endedAt: p.endedAt,
  };
}

/** An NDJSON response from an async sequence of objects; stops producing when the client goes away. */
export function ndjson(events: AsyncIterable<unknown>, abort: AbortController): Response {
  const encoder = new TextEncoder();
  const iterator = events[Symbol.asyncIterator]();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(JSON.stringify(next.value) + "\n"));
      } catch (err) {
        controller.error(err);
      }
    },
    async cancel() {
      abort.abort();
      await iterator.return?.(undefined);
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" },
  });
}
