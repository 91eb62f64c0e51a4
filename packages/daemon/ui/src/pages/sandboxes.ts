// The sandboxes page: the project's sandboxes, kept live by the event stream (a lifecycle event
// reloads the list), filters by status, label text and image, a create form, and the actions on
// each one (terminate, suspend/resume, snapshot, fork).
import { html } from "lit";
import type { SandboxInfo } from "@sbx-sh/protocol";
import { ago, enc, events, json } from "../api.js";
import { attempt, notify, redraw } from "../state.js";

let sandboxes: SandboxInfo[] = [];
let loaded = false;
let stream: EventSource | undefined;
let reloading: Promise<void> | undefined;
const filters = { status: "active", text: "", image: "" };

async function reload(): Promise<void> {
  reloading ??= json<{ sandboxes: SandboxInfo[] }>("GET", "/v1/sandboxes?all=1")
    .then((r) => {
      sandboxes = r.sandboxes;
      loaded = true;
      redraw();
    })
    .finally(() => (reloading = undefined));
  return reloading;
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
  };
  await attempt("create", async () => {
    const sb = await json<SandboxInfo>("POST", "/v1/sandboxes", body);
    notify(`created ${sb.id}`);
    await reload();
  });
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
  const list = visible();
  return html`<h1>Sandboxes</h1>
    <form class="create" aria-label="Create a sandbox" @submit=${create}>
      <label>Image <input name="image" placeholder="debian-minimal" /></label>
      <label>Name <input name="name" /></label>
      <label>CPUs <input name="cpus" type="number" min="0.1" step="0.1" /></label>
      <label>Memory (MiB) <input name="memoryMb" type="number" min="16" /></label>
      <label>Timeout (s) <input name="timeoutSecs" type="number" min="1" /></label>
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
      <label>Search (id, name, env) <input type="search" @input=${set("text")} .value=${filters.text} /></label>
    </div>
    <table aria-label="Sandboxes">
      <thead>
        <tr>
          <th>ID</th>
          <th>Name</th>
          <th>Image</th>
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
