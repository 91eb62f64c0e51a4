// The pools page: the project's sandbox pools with how many are warm now, their limits and claim
// statistics (hits, misses, median claim latency), a form that creates one and a button that
// removes one. Pool events (claimed, refilled) keep the numbers current without a reload.
import { html } from "lit";
import type { PoolInfo } from "@sbx-sh/protocol";
import { ago, enc, events, json } from "../api.js";
import { attempt, notify, redraw } from "../state.js";

let pools: PoolInfo[] = [];
let loadedAt = 0;
let stream: (() => void) | undefined;

async function load(): Promise<void> {
  loadedAt = Date.now();
  pools = (await json<{ pools: PoolInfo[] }>("GET", "/v1/pools")).pools;
  redraw();
}

async function create(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const form = ev.target as HTMLFormElement;
  const f = new FormData(form);
  const num = (k: string) => (f.get(k) ? Number(f.get(k)) : undefined);
  const body = {
    image: (f.get("image") as string) || undefined,
    warm: num("warm") ?? 1,
    max: num("max") ?? null,
    cpus: num("cpus"),
    memoryMb: num("memoryMb"),
    timeoutSecs: num("timeoutSecs"),
    allowInternetAccess: f.get("network") === "on",
  };
  await attempt("create pool", async () => {
    const p = await json<PoolInfo>("POST", "/v1/pools", body);
    notify(`created pool ${p.id}`);
    form.reset();
    await load();
  });
}

const remove = (p: PoolInfo) =>
  attempt("remove pool", async () => {
    await json("DELETE", `/v1/pools/${enc(p.id)}`);
    notify(`removed pool ${p.id}`);
    await load();
  });

function row(p: PoolInfo) {
  return html`<tr data-id=${p.id}>
    <td>${p.id}</td>
    <td>${p.image ?? "(default)"}</td>
    <td aria-label="ready of warm">${p.ready} / ${p.warm}</td>
    <td>${p.max ?? "no limit"}</td>
    <td>${p.claims}</td>
    <td>${p.hits} / ${p.misses}</td>
    <td>${p.claimP50Ms === null ? "-" : `${p.claimP50Ms.toFixed(1)} ms`}</td>
    <td>${p.cpus ?? "-"} cpu, ${p.memoryMb ?? "-"} MiB</td>
    <td>${ago(p.createdAt)}</td>
    <td>
      ${
        p.id === "default"
          ? html`<small>the daemon's (sbxd --warm-pool)</small>`
          : html`<button type="button" class="danger" aria-label="Remove pool ${p.id}" @click=${() => remove(p)}>
              Remove
            </button>`
      }
    </td>
  </tr>`;
}

export function poolsPage() {
  stream ??= events(() => void load().catch(() => undefined), "pool");
  if (Date.now() - loadedAt > 5000) void attempt("loading pools", load);
  return html`<h1>Pools</h1>
    <p>Warm sandboxes of an image, claimed at once with <code>Sandbox.create({ pool })</code> or the API.</p>
    <form class="create" aria-label="Create a pool" @submit=${create}>
      <label>Image <input name="image" placeholder="debian-minimal" /></label>
      <label>Warm <input name="warm" type="number" min="0" max="16" value="1" required /></label>
      <label>Max claimed <input name="max" type="number" min="0" /></label>
      <label>CPUs <input name="cpus" type="number" min="0.1" step="0.1" /></label>
      <label>Memory (MiB) <input name="memoryMb" type="number" min="16" /></label>
      <label>Timeout (s) <input name="timeoutSecs" type="number" min="0" /></label>
      <label><input name="network" type="checkbox" /> Internet access</label>
      <button type="submit">Create pool</button>
    </form>
    <table aria-label="Pools">
      <thead>
        <tr>
          <th>ID</th>
          <th>Image</th>
          <th>Ready / warm</th>
          <th>Max claimed</th>
          <th>Claims</th>
          <th>Hits / misses</th>
          <th>Claim p50</th>
          <th>Resources</th>
          <th>Age</th>
          <th>Actions</th>
        </tr>
      </thead>
      <tbody>
        ${pools.map(row)}
      </tbody>
    </table>
    ${loadedAt && pools.length === 0 ? html`<p>No pools yet.</p>` : null}`;
}
