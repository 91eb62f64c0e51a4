// The sandboxes page: the project's sandboxes, kept live by the event stream (a lifecycle event
// reloads the list), filters by status, labels (the API's own `label` query, so the page and
// `sbx ls --filter label=…` agree), image and text, a create form, and the actions on each one
// (terminate, suspend/resume, snapshot, fork).
import { html } from "lit";
import type { SandboxInfo } from "@sbx-sh/protocol";
import { ago, enc, events, json } from "../api.js";
import { attempt, notify, redraw } from "../state.js";

let sandboxes: SandboxInfo[] = [];
let loaded = false;
let stream: (() => void) | undefined;
let reloading: Promise<void> | undefined;
const filters = { status: "active", text: "", image: "", label: "" };

/** "team=ml, gpu" → ["team=ml", "gpu"]: each one must match (key=value, or a bare key present). */
function labelTerms(text: string): string[] {
  return text
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
}

/** The list as the API filters it: every sandbox (terminated too) with the wanted labels. */
function listPath(): string {
  return `/v1/sandboxes?all=1${labelTerms(filters.label)
    .map((t) => `&label=${enc(t)}`)
    .join("")}`;
}

let shownPath = "";

/** One list request at a time; a filter changed meanwhile is fetched right after. */
async function reload(): Promise<void> {
  reloading ??= (async () => {
    const path = listPath();
    const r = await json<{ sandboxes: SandboxInfo[] }>("GET", path);
    sandboxes = r.sandboxes;
    shownPath = path;
    loaded = true;
    redraw();
  })().finally(() => (reloading = undefined));
  await reloading;
  if (shownPath !== listPath()) await reload();
}

function follow(): void {
  if (stream) return;
  stream = events(() => void reload().catch(() => undefined), "sandbox");
}

const act = (what: string, method: string, path: string, body?: unknown) =>
  attempt(what, async () => {
    await json(method, path, body);
    notify(`${what}: done`);
    await reload();
  });

async function create(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const f = new FormData(ev.target as HTMLFormElement);
  const num = (k: string) => (f.get(k) ? Number(f.get(k)) : undefined);
  const body = {
    image: (f.get("image") as string) || undefined,
    name: (f.get("name") as string) || undefined,
    cpus: num("cpus"),
    memoryMb: num("memoryMb"),
    timeoutSecs: num("timeoutSecs"),
    allowInternetAccess: f.get("network") === "on",
    labels: labelsOf((f.get("labels") as string) || ""),
  };
  await attempt("create", async () => {
    const sb = await json<SandboxInfo>("POST", "/v1/sandboxes", body);
    notify(`created ${sb.id}`);
    await reload();
  });
}

/** The create form's "team=ml, env=dev" → {team: "ml", env: "dev"}; the daemon checks them. */
function labelsOf(text: string): Record<string, string> | undefined {
  const terms = labelTerms(text);
  if (terms.length === 0) return undefined;
  return Object.fromEntries(terms.map((t) => [t.split("=")[0]!, t.includes("=") ? t.slice(t.indexOf("=") + 1) : ""]));
}

function visible(): SandboxInfo[] {
  return sandboxes.filter(
    (s) =>
      (filters.status === "all" ||
        (filters.status === "active" ? s.status !== "terminated" : s.status === filters.status)) &&
      (!filters.image || s.image.includes(filters.image)) &&
      (!filters.text || `${s.id} ${s.name ?? ""} ${JSON.stringify(s.env)}`.includes(filters.text)),
  );
}

function row(s: SandboxInfo) {
  const id = enc(s.id);
  const running = s.status === "running";
  return html`<tr data-id=${s.id}>
    <td><a href="#/sandboxes/${id}">${s.id}</a></td>
    <td>${s.name ?? "-"}</td>
    <td>${s.image}</td>
    <td class="labels">
      ${Object.entries(s.labels ?? {}).map(([k, v]) => html`<span class="label">${v ? `${k}=${v}` : k}</span> `)}
    </td>
    <td>
      <span class="status ${s.status}">${s.status}</span
      >${s.terminationReason ? html` <small>(${s.terminationReason})</small>` : null}
    </td>
    <td>${s.cpus} cpu, ${s.memoryMb} MiB</td>
    <td>${ago(s.createdAt)}</td>
    <td class="actions">
      ${
        running
          ? html`<button type="button" @click=${() => act("snapshot", "POST", `/v1/sandboxes/${id}/snapshot`, {})}>
                Snapshot
              </button>
              <button type="button" @click=${() => act("fork", "POST", `/v1/sandboxes/${id}/copy`, { times: 1 })}>
                Fork
              </button>`
          : null
      }
      ${running && s.name ? html`<button type="button" @click=${() => act("suspend", "POST", `/v1/sandboxes/${id}/suspend`)}>Suspend</button>` : null}
      ${s.status === "suspended" ? html`<button type="button" @click=${() => act("resume", "POST", `/v1/sandboxes/${id}/resume`)}>Resume</button>` : null}
      ${
        s.status !== "terminated"
          ? html`<button
              type="button"
              class="danger"
              aria-label="Terminate ${s.id}"
              @click=${() => act("terminate", "DELETE", `/v1/sandboxes/${id}`)}
            >
              Terminate
            </button>`
          : null
      }
    </td>
  </tr>`;
}

export function sandboxesPage() {
  follow();
  if (!loaded) void reload().catch((e: Error) => notify(`loading sandboxes failed: ${e.message}`, true));
  const set = (k: keyof typeof filters) => (ev: Event) => {
    filters[k] = (ev.target as HTMLInputElement).value;
    redraw();
  };
  const setLabel = (ev: Event) => {
    filters.label = (ev.target as HTMLInputElement).value;
    void reload().catch((e: Error) => notify(`loading sandboxes failed: ${e.message}`, true));
  };
  const list = visible();
  return html`<h1>Sandboxes</h1>
    <form class="create" aria-label="Create a sandbox" @submit=${create}>
      <label>Image <input name="image" placeholder="debian-minimal" /></label>
      <label>Name <input name="name" /></label>
      <label>CPUs <input name="cpus" type="number" min="0.1" step="0.1" /></label>
      <label>Memory (MiB) <input name="memoryMb" type="number" min="16" /></label>
      <label>Timeout (s) <input name="timeoutSecs" type="number" min="1" /></label>
      <label>Labels <input name="labels" placeholder="team=ml, env=dev" /></label>
      <label><input name="network" type="checkbox" /> Internet access</label>
      <button type="submit">Create sandbox</button>
    </form>
    <div class="filters" role="search">
      <label
        >Status
        <select @change=${set("status")} .value=${filters.status}>
          ${["active", "running", "suspended", "terminated", "all"].map((v) => html`<option value=${v}>${v}</option>`)}
        </select></label
      >
      <label>Image <input type="search" @input=${set("image")} .value=${filters.image} /></label>
      <label
        >Label (key or key=value, comma-separated)
        <input type="search" placeholder="team=ml" @change=${setLabel} .value=${filters.label}
      /></label>
      <label>Search (id, name, env) <input type="search" @input=${set("text")} .value=${filters.text} /></label>
    </div>
    <table aria-label="Sandboxes">
      <thead>
        <tr>
          <th>ID</th>
          <th>Name</th>
          <th>Image</th>
          <th>Labels</th>
          <th>Status</th>
          <th>Resources</th>
          <th>Age</th>
          <th>Actions</th>
        </tr>
      </thead>
      <tbody>
        ${list.map(row)}
      </tbody>
    </table>
    ${loaded && list.length === 0 ? html`<p>No sandboxes match.</p>` : null}`;
}
