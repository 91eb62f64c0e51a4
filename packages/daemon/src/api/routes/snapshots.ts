// Snapshot routes: take, list, inspect, delete; fork a sandbox; suspend and resume named
// sandboxes; register a snapshot as an image.
import { createRoute, z } from "@hono/zod-openapi";
import type { Services } from "../../services/services.js";
import type { Api } from "../api-types.js";
import {
  CopySandboxRequest,
  CreateSnapshotRequest,
  ErrorBody,
  ImageDetail,
  RegisterImageRequest,
  Sandbox,
  SandboxList,
  Snapshot,
} from "../schemas/index.js";
import { toImage } from "../mappers/images.js";
import { toSandbox } from "../mappers/sandboxes.js";
import { toSnapshot } from "../mappers/snapshots.js";
import { json, jsonBody } from "./common.js";
import { SandboxParams } from "./sandboxes.js";

const SnapshotParams = z.object({ id: z.string().min(1).max(64) });

export function registerSnapshotRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/{id}/snapshot",
      summary: "Snapshot a running sandbox (it keeps running)",
      request: {
        params: SandboxParams,
        body: { content: { "application/json": { schema: CreateSnapshotRequest } }, required: false },
      },
      responses: {
        201: json(Snapshot, "completed snapshot"),
        409: json(ErrorBody, "not running"),
        412: json(ErrorBody, "memory snapshots unavailable"),
      },
    }),
    async (c) => {
      const body = c.req.header("content-type")?.includes("json")
        ? CreateSnapshotRequest.parse(await c.req.json().catch(() => ({})))
        : {};
      return c.json(toSnapshot(await s.sandboxes.snapshot(c.get("project"), c.req.valid("param").id, body)), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/snapshots",
      summary: "List snapshots, newest first",
      responses: { 200: json(z.object({ snapshots: z.array(Snapshot) }), "snapshots") },
    }),
    async (c) => c.json({ snapshots: (await s.snapshots.list(c.get("project"))).map(toSnapshot) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/snapshots/{id}",
      summary: "Get a snapshot",
      request: { params: SnapshotParams },
      responses: { 200: json(Snapshot, "snapshot"), 404: json(ErrorBody, "unknown") },
    }),
    async (c) => c.json(toSnapshot(await s.snapshots.get(c.get("project"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/snapshots/{id}",
      summary: "Delete a snapshot (its layers go when nothing uses them)",
      request: { params: SnapshotParams },
      responses: { 200: json(Snapshot, "deleted") },
    }),
    async (c) => c.json(toSnapshot(await s.snapshots.remove(c.get("project"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/{id}/copy",
      summary: "Fork: snapshot once, start N sandboxes from it",
      request: { params: SandboxParams, ...jsonBody(CopySandboxRequest) },
      responses: { 201: json(SandboxList, "the new sandboxes") },
    }),
    async (c) =>
      c.json(
        {
          sandboxes: (
            await s.sandboxes.fork(
              c.get("project"),
              c.req.valid("param").id,
              c.req.valid("json").times,
              c.req.valid("json").keepSnapshot,
            )
          ).map(toSandbox),
        },
        201,
      ),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/{id}/suspend",
      summary: "Suspend a named sandbox: save its files, release its processes and memory",
      request: { params: SandboxParams },
      responses: { 200: json(Sandbox, "suspended"), 412: json(ErrorBody, "not named") },
    }),
    async (c) => c.json(toSandbox(await s.sandboxes.suspend(c.get("project"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/sandboxes/{id}/resume",
      summary: "Resume a suspended sandbox: same id and name, files intact",
      request: { params: SandboxParams },
      responses: { 200: json(Sandbox, "running") },
    }),
    async (c) => c.json(toSandbox(await s.sandboxes.resume(c.get("project"), c.req.valid("param").id)), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/images",
      summary: "Register a snapshot as a named image",
      request: jsonBody(RegisterImageRequest),
      responses: { 201: json(ImageDetail, "registered"), 409: json(ErrorBody, "name taken") },
    }),
    async (c) => {
      const b = c.req.valid("json");
      const img = await s.snapshots.registerImage(
        c.get("project"),
        { name: b.name, tag: b.tag },
        b.snapshotId,
        b.replace ?? false,
      );
      return c.json(toImage(img), 201);
    },
  );
}
