// The dashboard's shell: checks the session, then draws the page the URL hash names (sandboxes,
// a sandbox, images, snapshots, pools, the project's tokens) under a navigation bar, or the sign-in form. Everything a sandbox
// or a user supplied goes through lit's templates as text: nothing is ever parsed as markup.
import { html, render } from "lit";
import "@xterm/xterm/css/xterm.css";
import "./style.css";
import { call, json, setCsrf } from "./api.js";
import { imagesPage } from "./pages/images.js";
import { sandboxPage } from "./pages/sandbox.js";
import { sandboxesPage } from "./pages/sandboxes.js";
import { signInPage } from "./pages/signin.js";
import { snapshotsPage } from "./pages/snapshots.js";
import { poolsPage } from "./pages/pools.js";
import { tokensPage } from "./pages/tokens.js";
import { attempt, onRedraw, route, state } from "./state.js";

const root = document.getElementById("app")!;

function page() {
  const [section = "sandboxes", id] = route();
  if (section === "sandboxes" && id) return sandboxPage(id);
  if (section === "images") return imagesPage(id);
  if (section === "snapshots") return snapshotsPage();
  if (section === "pools") return poolsPage();
  if (section === "project") return tokensPage();
  return sandboxesPage();
}

function signOut(): Promise<void> {
  return attempt("sign-out", async () => {
    await call("DELETE", "/ui/session");
    state.session = null;
    location.hash = "";
    draw();
  });
}

function draw(): void {
  if (!state.session) {
    render(signInPage(start), root);
    return;
  }
  const [section = "sandboxes"] = route();
  const link = (name: string, label: string) =>
    html`<a href="#/${name}" aria-current=${section === name ? "page" : "false"}>${label}</a>`;
  render(
    html`<header>
        <strong class="brand">sbx</strong>
        <nav aria-label="Main">
          ${link("sandboxes", "Sandboxes")} ${link("images", "Images")} ${link("snapshots", "Snapshots")}
          ${link("pools", "Pools")} ${link("project", "Project")}
        </nav>
        <span class="project">project <b>${state.session.project}</b></span>
        <button type="button" @click=${signOut}>Sign out</button>
      </header>
      ${
        state.notice
          ? html`<p
              class=${state.notice.error ? "notice error" : "notice"}
              role=${state.notice.error ? "alert" : "status"}
            >
              ${state.notice.text}
              <button type="button" aria-label="Dismiss" @click=${() => ((state.notice = null), draw())}>×</button>
            </p>`
          : null
      }
      <main>${page()}</main>`,
    root,
  );
}

/** Asks the daemon who we are (the cookie is HttpOnly: only the daemon can read it). */
async function start(): Promise<void> {
  try {
    const s = await json<{ project: string; tokenId: string; csrf: string }>("GET", "/ui/session");
    setCsrf(s.csrf);
    state.session = { project: s.project, tokenId: s.tokenId };
  } catch {
    state.session = null;
  }
  draw();
}

onRedraw(draw);
window.addEventListener("hashchange", () => {
  state.notice = null;
  draw();
});
void start();
