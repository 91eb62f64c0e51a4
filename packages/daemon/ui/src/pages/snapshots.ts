// Snapshots of the project's sandboxes, newest first, with what they came from.
import { html } from "lit";
import type { SnapshotInfo } from "@sbx-sh/protocol";
import { ago, bytes, json } from "../api.js";
import { attempt, redraw } from "../state.js";

let snapshots: SnapshotInfo[] = [];
let loadedAt = 0;

export function snapshotsPage() {
  if (Date.now() - loadedAt > 5000) {
    loadedAt = Date.now();
    void attempt("loading snapshots", async () => {
      snapshots = (await json<{ snapshots: SnapshotInfo[] }>("GET", "/v1/snapshots")).snapshots;
      redraw();
    });
  }
  return html`<h1>Snapshots</h1>
    <table aria-label="Snapshots">
      <thead>
        <tr>
          <th>ID</th>
          <th>From sandbox</th>
          <th>Image</th>
          <th>Status</th>
          <th>Size</th>
          <th>Created</th>
        </tr>
      </thead>
      <tbody>
        ${snapshots.map(
          (s) =>
            html`<tr>
              <td>${s.id}</td>
              <td>${s.sourceSandboxId}</td>
              <td>${s.sourceImage}</td>
              <td>${s.status}</td>
              <td>${bytes(s.sizeBytes)}</td>
              <td>${ago(s.createdAt)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}
