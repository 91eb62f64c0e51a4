// The image half of the fake sbxd: context uploads (sha256 checked), builds that replay the step
// IR with a layer cache keyed by the steps so far (scripted RUN commands: `exit N` fails, a command
// containing `wait-for-cancel` runs until cancelled), build events, and the image registry
// (a rebuild to the same image is fine; a different one needs replace).
import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { BuildEvent, BuildInfo, CreateBuildRequest, ImageInfo } from "@sbx-sh/protocol";
import { describeStep, type Step } from "@sbx-sh/protocol";

interface FakeBuild {
  record: BuildInfo;
  request: CreateBuildRequest;
  events: BuildEvent[];
  listeners: Set<(ev: BuildEvent) => void>;
  cancel?: () => void;
}

const sha = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

const BASE: ImageInfo = {
  name: "debian-minimal",
  tag: "latest",
  id: `sha256:${sha("base")}`,
  project: null,
  kind: "base",
  baseImage: null,
  sizeBytes: 50_000_000,
  layers: [
    {
      digest: `sha256:${sha("base")}`,
      key: `base:sha256:${sha("base")}`,
      sizeBytes: 50_000_000,
      step: "base image debian-minimal",
      cached: true,
    },
  ],
  config: {
    env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    workingDir: "/",
    user: "root",
    entrypoint: null,
    cmd: null,
    systemd: false,
  },
  buildId: null,
  isolation: "userns",
  createdAt: "",
};

export class FakeBuilds {
  readonly contexts = new Map<string, Buffer>();
  readonly builds = new Map<string, FakeBuild>();
  /** Built images by `project/name:tag`. */
  readonly images = new Map<string, ImageInfo>();
  readonly layers = new Set<string>();
  private seq = 0;

  /** Serves /v1/{contexts,builds,images}/...; `p` is the path after /v1. */
  async handle(
    method: string,
    p: string[],
    query: URLSearchParams,
    raw: Buffer,
    project: string,
    res: ServerResponse,
  ): Promise<void> {
    const [kind, id, sub] = p;
    if (kind === "contexts" && id) {
      if (method === "HEAD") return void res.writeHead(this.contexts.has(id) ? 200 : 404).end();
      if (method === "PUT") {
        if (`sha256:${sha(raw)}` !== id)
          return send(res, 400, { error: { code: "invalid_archive", message: `the body's sha256 is not ${id}` } });
        this.contexts.set(id, raw);
        return send(res, 201, { digest: id, sizeBytes: raw.length });
      }
    }
    if (kind === "builds") {
      if (method === "POST" && !id) return this.create(JSON.parse(raw.toString()) as CreateBuildRequest, project, res);
      if (method === "GET" && !id)
        return send(res, 200, {
          builds: [...this.builds.values()]
            .filter((b) => b.record.project === project)
            .map((b) => b.record)
            .reverse(),
        });
      const b = id ? this.builds.get(id) : undefined;
      if (!b || b.record.project !== project)
        return send(res, 404, { error: { code: "not_found", message: `no build ${id}` } });
      if (method === "GET" && !sub) return send(res, 200, b.record);
      if (method === "DELETE") {
        if (b.record.state === "queued" || b.record.state === "running") this.finish(b, "cancelled");
        return send(res, 200, b.record);
      }
      if (method === "GET" && sub === "events") return this.stream(b, query.get("follow") === "1", res);
    }
    if (kind === "images") {
      if (method === "GET" && !id) {
        const built = [...this.images.entries()].filter(([k]) => k.startsWith(`${project}/`)).map(([, d]) => d);
        return send(res, 200, { images: [BASE, ...built] });
      }
      const key = `${project}/${id?.includes(":") ? id : `${id}:latest`}`;
      const img = id === BASE.name ? BASE : this.images.get(key);
      if (img === BASE && method === "DELETE")
        return send(res, 412, {
          error: { code: "failed_precondition", message: `${id} is a base image: base images cannot be removed` },
        });
      if (!img)
        return send(res, 404, { error: { code: "image_not_found", message: `no image ${id} in project ${project}` } });
      if (method === "GET") return send(res, 200, img);
      if (method === "DELETE") {
        this.images.delete(key);
        return send(res, 200, img);
      }
    }
    send(res, 404, { error: { code: "not_found", message: `no route ${method} /v1/${p.join("/")}` } });
  }

  private create(req: CreateBuildRequest, project: string, res: ServerResponse): void {
    for (const s of req.definition.steps) {
      if ((s.op === "copy" || s.op === "add") && !this.contexts.has(s.context)) {
        return send(res, 412, {
          error: { code: "failed_precondition", message: `context ${s.context} was not uploaded` },
        });
      }
    }
    const imageName = req.registeredName ?? req.definition.name;
    const tag = req.tag ?? req.definition.tag ?? "latest";
    const now = new Date().toISOString();
    const record: BuildInfo = {
      id: `bld-${++this.seq}`,
      project,
      imageName,
      tag,
      state: "running",
      steps: req.definition.steps.length,
      imageId: null,
      failure: null,
      createdAt: now,
      startedAt: now,
      endedAt: null,
    };
    const b: FakeBuild = { record, request: req, events: [], listeners: new Set() };
    this.builds.set(record.id, b);
    send(res, 201, record);
    setImmediate(() => void this.run(b));
  }

  private async run(b: FakeBuild): Promise<void> {
    const { definition, noCache } = b.request;
    this.emit(b, { type: "build", build: b.record });
    let key = sha(definition.baseImage);
    const layers: ImageInfo["layers"] = [];
    for (const [i, step] of definition.steps.entries()) {
      const { source: _s, text: _t, ...keyed } = step as Step & { text?: string };
      key = sha(key + JSON.stringify(keyed));
      const cached = !noCache && this.layers.has(key);
      const text = describeStep(step);
      this.emit(b, { type: "step", step: i + 1, total: definition.steps.length, text, cached, key });
      if (!cached && step.op === "run") {
        const cmd = typeof step.command === "string" ? step.command : step.command.join(" ");
        this.emit(b, { type: "log", step: i + 1, stream: "stdout", data: `running ${cmd}\n` });
        if (cmd.includes("wait-for-cancel")) {
          await new Promise<void>((resolve) => (b.cancel = resolve));
          return;
        }
        const exit = /exit (\d+)/.exec(cmd);
        if (exit) {
          this.emit(b, { type: "log", step: i + 1, stream: "stderr", data: "boom: it broke\n" });
          b.record.failure = {
            step: i + 1,
            text,
            source: step.source ?? null,
            exitCode: Number(exit[1]),
            message: `the command exited with code ${exit[1]}`,
            lastLines: [`running ${cmd}`, "boom: it broke"],
          };
          return this.finish(b, "failed");
        }
      }
      this.layers.add(key);
      const layer = { digest: `sha256:${sha(`layer${key}`)}`, sizeBytes: cached ? 0 : 1000 * (i + 1) };
      layers.push({ digest: layer.digest, key, sizeBytes: layer.sizeBytes, step: text, cached });
      this.emit(b, { type: "step_done", step: i + 1, cached, durationMs: cached ? 0 : 1500, layer });
      await new Promise((r) => setImmediate(r));
    }
    b.record.imageId = `sha256:${sha(`image${key}`)}`;
    const image: ImageInfo = {
      name: b.record.imageName,
      tag: b.record.tag,
      id: b.record.imageId,
      project: b.record.project,
      kind: "built",
      baseImage: definition.baseImage,
      sizeBytes: layers.reduce((n, l) => n + l.sizeBytes, 50_000_000),
      layers,
      config: {
        env: definition.steps.flatMap((s) => (s.op === "env" ? [`${s.key}=${s.value}`] : [])),
        workingDir: "/",
        user: "root",
        entrypoint: null,
        cmd: null,
        systemd: false,
      },
      buildId: b.record.id,
      isolation: "userns",
      createdAt: new Date().toISOString(),
    };
    // As sbxd: rebuilding to the same image is fine; pointing the name elsewhere needs replace.
    const current = this.images.get(`${b.record.project}/${image.name}:${image.tag}`);
    if (current && current.id !== image.id && !b.request.replace) {
      const message = `image ${image.name}:${image.tag} already exists in project ${b.record.project}: pass --replace to point the name at the new image`;
      b.record.failure = { step: null, text: null, source: null, exitCode: null, message, lastLines: [] };
      return this.finish(b, "failed");
    }
    if (current?.id !== image.id) this.images.set(`${b.record.project}/${image.name}:${image.tag}`, image);
    this.finish(b, "succeeded", current?.id === image.id ? current : image);
  }

  private finish(b: FakeBuild, state: BuildInfo["state"], image: ImageInfo | null = null): void {
    b.record = { ...b.record, state, endedAt: new Date().toISOString() };
    b.cancel?.();
    this.emit(b, { type: "done", build: b.record, image });
  }

  private emit(b: FakeBuild, ev: BuildEvent): void {
    b.events.push(ev);
    for (const l of b.listeners) l(ev);
  }

  private stream(b: FakeBuild, follow: boolean, res: ServerResponse): void {
    res.writeHead(200, { "content-type": "application/x-ndjson" });
    for (const ev of b.events) res.write(`${JSON.stringify(ev)}\n`);
    if (!follow || b.events.some((e) => e.type === "done")) return void res.end();
    const l = (ev: BuildEvent) => {
      res.write(`${JSON.stringify(ev)}\n`);
      if (ev.type === "done") {
        b.listeners.delete(l);
        res.end();
      }
    };
    b.listeners.add(l);
    res.on("close", () => b.listeners.delete(l));
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
