// Images and builds: the project's images (inspect shows steps and layers), the build history,
// and one build's log streamed live (followed until it ends) with the failed-step report.
import { html } from "lit";
import type { BuildEvent, BuildInfo, ImageInfo } from "@sbx-sh/protocol";
import { ago, bytes, enc, events, json, ndjson } from "../api.js";
import { attempt, notify, redraw } from "../state.js";

let images: ImageInfo[] = [];
let builds: BuildInfo[] = [];
let inspected: ImageInfo | undefined;
let loadedAt = 0;
/** The build whose log is shown: its steps' lines as they arrive (capped: a huge log must not freeze the page). */
let log: { build: BuildInfo; lines: string[]; dropped: number; abort: AbortController } | undefined;
const MAX_LINES = 5000;

async function load(): Promise<void> {
  loadedAt = Date.now();
  await attempt("loading images", async () => {
    images = (await json<{ images: ImageInfo[] }>("GET", "/v1/images")).images;
    builds = (await json<{ builds: BuildInfo[] }>("GET", "/v1/builds")).builds;
    redraw();
  });
}

async function inspect(name: string): Promise<void> {
  await attempt("inspect", async () => {
    inspected = await json<ImageInfo>("GET", `/v1/images/${enc(name)}`);
    redraw();
  });
}

/** Longest line kept: a step that prints one endless line must not make one huge text node either. */
const MAX_LINE = 2000;

/** Adds a chunk of output line by line (a log event carries many lines), keeping only the last MAX_LINES. */
function push(text: string): void {
  if (!log) return;
  for (const line of text.split("\n"))
    log.lines.push(
      line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}… (${line.length - MAX_LINE} more characters)` : line,
    );
  if (log.lines.length > MAX_LINES) {
    log.dropped += log.lines.length - MAX_LINES;
    log.lines.splice(0, log.lines.length - MAX_LINES);
  }
}

async function follow(b: BuildInfo): Promise<void> {
  log?.abort.abort();
  const abort = new AbortController();
  const mine = { build: b, lines: [] as string[], dropped: 0, abort };
  log = mine;
  redraw();
  let pending = false;
  const soon = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => ((pending = false), redraw()));
  };
  try {
    for await (const ev of ndjson<BuildEvent>(`/v1/builds/${enc(b.id)}/events?follow=1`, abort.signal)) {
      if (log !== mine) return;
      if (ev.type === "step") push(`#${ev.step}/${ev.total} ${ev.text}${ev.cached ? " CACHED" : ""}`);
      else if (ev.type === "log") push(ev.data.replace(/\n$/, ""));
      else if (ev.type === "step_done") push(`#${ev.step} done in ${ev.durationMs} ms`);
      else if (ev.type === "done") {
        mine.build = ev.build;
        push(`build ${ev.build.state}`);
      }
      soon();
    }
  } catch (err) {
    if (!abort.signal.aborted) notify(`build log: ${(err as Error).message}`, true);
  }
  redraw();
}

function failure(b: BuildInfo) {
  const f = b.failure;
  if (!f) return null;
  return html`<section class="failure" role="alert" aria-label="Build failure">
    <h3>Step ${f.step ?? "-"} failed${f.exitCode !== null ? ` (exit code ${f.exitCode})` : ""}</h3>
    ${f.text ? html`<p><code>${f.text}</code>${f.source ? html` at ${f.source.file}:${f.source.line}` : null}</p>` : null}
    <p>${f.message}</p>
    ${f.lastLines.length ? html`<pre>${f.lastLines.join("\n")}</pre>` : null}
  </section>`;
}

let stream: (() => void) | undefined;
let loading: Promise<void> | undefined;

/** Builds and images started or removed elsewhere show up without a reload (one load at a time). */
function followBuilds(): void {
  stream ??= events(() => {
    loading ??= load().finally(() => (loading = undefined));
  }, "build,image");
}

export function imagesPage(_id?: string) {
  followBuilds();
  if (Date.now() - loadedAt > 5000) void load();
  return html`<h1>Images</h1>
    <table aria-label="Images">
      <thead>
        <tr>
          <th>Name</th>
          <th>Kind</th>
          <th>Size</th>
          <th>Created</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${images.map(
          (i) =>
            html`<tr>
              <td>${i.name}:${i.tag}</td>
              <td>${i.kind}</td>
              <td>${bytes(i.sizeBytes)}</td>
              <td>${ago(i.createdAt)}</td>
              <td><button type="button" @click=${() => inspect(`${i.name}:${i.tag}`)}>Inspect</button></td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${
      inspected
        ? html`<section aria-label="Image ${inspected.name}">
            <h2>${inspected.name}:${inspected.tag}</h2>
            <p>
              ${inspected.id} — base ${inspected.baseImage ?? "-"}, user ${inspected.config.user}, workdir
              ${inspected.config.workingDir}
            </p>
            <ol class="layers">
              ${inspected.layers.map((l) => html`<li><code>${l.step}</code> ${bytes(l.sizeBytes)} ${l.cached ? "(cached)" : ""}</li>`)}
            </ol>
          </section>`
        : null
    }
    <h2>Builds</h2>
    <table aria-label="Builds">
      <thead>
        <tr>
          <th>Build</th>
          <th>Image</th>
          <th>State</th>
          <th>Started</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${builds.map(
          (b) =>
            html`<tr>
              <td>${b.id}</td>
              <td>${b.imageName}:${b.tag}</td>
              <td><span class="status ${b.state}">${b.state}</span></td>
              <td>${ago(b.createdAt)}</td>
              <td><button type="button" @click=${() => follow(b)}>Logs</button></td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${
      log
        ? html`<section aria-label="Build log">
            <h2>Build ${log.build.id}: ${log.build.state}</h2>
            ${log.dropped ? html`<p>${log.dropped} earlier lines not shown</p>` : null}
            <pre class="logs" aria-label="Build output">${log.lines.join("\n")}</pre>
            ${failure(log.build)}
          </section>`
        : null
    }`;
}
