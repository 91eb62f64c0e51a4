// One sandbox: details, a live cpu/memory graph (stats every 2 s while the page is open),
// processes and their logs, a file browser with download and upload, exposed ports, and a
// terminal in the browser. Output and file names from the sandbox are shown as text only.
import { html, svg } from "lit";
import type { DirectoryListing, PortExposure, ProcessInfo, SandboxInfo, SandboxUsage } from "@sbx-sh/protocol";
import { ago, bytes, call, enc, json, ndjson } from "../api.js";
import { attempt, notify, redraw, route } from "../state.js";
import { openTerminal, terminalView } from "../terminal.js";

interface View {
  id: string;
  sandbox?: SandboxInfo;
  samples: SandboxUsage[];
  processes: ProcessInfo[];
  logs: { pid: string; text: string } | null;
  dir: string;
  listing?: DirectoryListing;
  ports: PortExposure[];
  timer?: ReturnType<typeof setInterval>;
}

let view: View | undefined;
const MAX_SAMPLES = 60;

async function refresh(v: View): Promise<void> {
  const base = `/v1/sandboxes/${enc(v.id)}`;
  v.sandbox = await json<SandboxInfo>("GET", base);
  if (v.sandbox.status === "running") {
    v.samples = [...v.samples, await json<SandboxUsage>("GET", `${base}/stats`)].slice(-MAX_SAMPLES);
    v.processes = (await json<{ processes: ProcessInfo[] }>("GET", `${base}/processes`)).processes;
    v.ports = (await json<{ ports: PortExposure[] }>("GET", `${base}/ports`).catch(() => ({ ports: [] }))).ports;
  }
  redraw();
}

async function listDir(v: View, dir: string): Promise<void> {
  await attempt("listing", async () => {
    v.listing = await json<DirectoryListing>("GET", `/v1/sandboxes/${enc(v.id)}/files/list?path=${enc(dir)}`);
    v.dir = dir;
    redraw();
  });
}

async function showLogs(v: View, pid: string): Promise<void> {
  v.logs = { pid, text: "" };
  const dec = new TextDecoder();
  await attempt("logs", async () => {
    for await (const ev of ndjson<{ type: string; data?: string }>(
      `/v1/sandboxes/${enc(v.id)}/processes/${enc(pid)}/output`,
    )) {
      if (ev.data && v.logs?.pid === pid) {
        const raw = Uint8Array.from(atob(ev.data), (c) => c.charCodeAt(0));
        v.logs.text += dec.decode(raw, { stream: true });
      }
    }
    redraw();
  });
}

async function upload(v: View, ev: Event): Promise<void> {
  const input = ev.target as HTMLInputElement;
  const file = input.files?.[0];
  if (!file) return;
  const path = `${v.dir.replace(/\/$/, "")}/${file.name}`;
  await attempt("upload", async () => {
    await call("PUT", `/v1/sandboxes/${enc(v.id)}/files?path=${enc(path)}`, undefined, file);
    notify(`uploaded ${path}`);
    input.value = "";
    await listDir(v, v.dir);
  });
}

function graph(samples: SandboxUsage[]) {
  const w = 300;
  const h = 80;
  const line = (vals: number[], max: number) =>
    vals.map((val, i) => `${(i / Math.max(1, MAX_SAMPLES - 1)) * w},${h - (val / (max || 1)) * h}`).join(" ");
  const cpu = samples.map((s) => s.cpuPercent);
  const mem = samples.map((s) => s.memoryBytes);
  const memMax = samples.at(-1)?.memoryLimitBytes ?? Math.max(...mem, 1);
  const last = samples.at(-1);
  return html`<figure class="graph">
    <svg
      viewBox="0 0 ${w} ${h}"
      width=${w}
      height=${h}
      role="img"
      aria-label="cpu and memory over the last two minutes"
    >
      ${svg`<polyline class="cpu" points=${line(cpu, Math.max(100, ...cpu))} />`}
      ${svg`<polyline class="mem" points=${line(mem, memMax)} />`}
    </svg>
    <figcaption>
      <span class="cpu">CPU ${last ? last.cpuPercent.toFixed(1) : "-"}%</span>
      <span class="mem">Memory ${bytes(last?.memoryBytes)} / ${bytes(last?.memoryLimitBytes)}</span>
      <span>PIDs ${last?.pids ?? "-"}</span>
      <span>Disk ${bytes(last?.diskBytes)} / ${bytes(last?.diskLimitBytes)}</span>
      <span>Net ${bytes(last?.netRxBytes)} in, ${bytes(last?.netTxBytes)} out</span>
    </figcaption>
  </figure>`;
}

function start(id: string): View {
  if (view?.timer) clearInterval(view.timer);
  const v: View = { id, samples: [], processes: [], logs: null, dir: "/", ports: [] };
  view = v;
  const tick = () =>
    refresh(v).catch((e: Error) => {
      notify(`sandbox ${id}: ${e.message}`, true);
      clearInterval(v.timer);
    });
  void tick();
  void listDir(v, "/");
  v.timer = setInterval(() => {
    if (route()[1] !== id) return clearInterval(v.timer);
    void tick();
  }, 2000);
  return v;
}

export function sandboxPage(id: string) {
  const v = view?.id === id ? view : start(id);
  const s = v.sandbox;
  const base = `/v1/sandboxes/${enc(id)}`;
  if (!s)
    return html`<h1>Sandbox ${id}</h1>
      <p>Loading…</p>`;
  const parent = v.dir === "/" ? null : v.dir.replace(/\/[^/]+\/?$/, "") || "/";
  return html`<h1>Sandbox ${s.name ?? s.id}</h1>
    <dl class="details">
      <dt>ID</dt>
      <dd>${s.id}</dd>
      <dt>Status</dt>
      <dd><span class="status ${s.status}">${s.status}</span> ${s.terminationReason ?? ""}</dd>
      <dt>Image</dt>
      <dd>${s.image}</dd>
      <dt>Resources</dt>
      <dd>${s.cpus} cpu, ${s.memoryMb} MiB, ${s.diskMb} MiB disk, timeout ${s.timeoutSecs}s</dd>
      <dt>Network</dt>
      <dd>${s.allowInternetAccess ? `internet (${s.ipAddress ?? "-"})` : "none"}</dd>
      <dt>Created</dt>
      <dd>${ago(s.createdAt)} ago</dd>
    </dl>
    ${
      s.status === "running"
        ? html`<section aria-labelledby="h-stats">
              <h2 id="h-stats">Usage</h2>
              ${graph(v.samples)}
            </section>
            <section aria-labelledby="h-term">
              <h2 id="h-term">Terminal</h2>
              <button type="button" @click=${() => openTerminal(id)}>Open terminal</button>
              ${terminalView(id)}
            </section>
            <section aria-labelledby="h-proc">
              <h2 id="h-proc">Processes</h2>
              <table aria-label="Processes">
                <thead>
                  <tr>
                    <th>PID</th>
                    <th>Command</th>
                    <th>Status</th>
                    <th>Exit</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody>
                  ${v.processes.map(
                    (p) =>
                      html`<tr>
                        <td>${p.id}</td>
                        <td>${[p.command, ...p.args].join(" ")}</td>
                        <td>${p.status}</td>
                        <td>${p.exitCode ?? "-"}</td>
                        <td><button type="button" @click=${() => showLogs(v, p.id)}>Logs</button></td>
                      </tr>`,
                  )}
                </tbody>
              </table>
              ${v.logs ? html`<pre class="logs" aria-label="Output of ${v.logs.pid}">${v.logs.text}</pre>` : null}
            </section>
            <section aria-labelledby="h-files">
              <h2 id="h-files">Files: <code>${v.dir}</code></h2>
              <label>Upload to this directory <input type="file" @change=${(e: Event) => upload(v, e)} /></label>
              <ul class="files" aria-label="Directory listing">
                ${parent ? html`<li><button type="button" class="link" @click=${() => listDir(v, parent)}>..</button></li>` : null}
                ${(v.listing?.entries ?? []).map((f) => {
                  const path = `${v.dir.replace(/\/$/, "")}/${f.name}`;
                  return html`<li>
                    ${
                      f.type === "directory"
                        ? html`<button type="button" class="link" @click=${() => listDir(v, path)}>${f.name}/</button>`
                        : html`<a href="${base}/files?path=${enc(path)}" download=${f.name}>${f.name}</a>
                            <small>${bytes(f.size)}</small>`
                    }
                  </li>`;
                })}
              </ul>
            </section>
            <section aria-labelledby="h-ports">
              <h2 id="h-ports">Ports</h2>
              ${
                v.ports.length
                  ? html`<ul>
                      ${v.ports.map((p) => html`<li>${p.port}: <code>${p.url}</code>${p.public ? " (public)" : ""}</li>`)}
                    </ul>`
                  : html`<p>No exposed ports (<code>sbx port expose ${s.id} PORT</code>).</p>`
              }
            </section>`
        : null
    }`;
}
