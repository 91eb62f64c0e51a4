// A terminal in the browser: xterm.js over the daemon's terminal WebSocket (the session cookie
// authenticates the upgrade; the daemon checks its Origin). Keys go out as binary frames, output
// comes back as binary frames, and a resize of the page resizes the pseudo-terminal.
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import type { TerminalInfo } from "@sbx-sh/protocol";
import { enc, json } from "./api.js";
import { attempt, notify } from "./state.js";

interface Open {
  sandboxId: string;
  host: HTMLElement;
  term?: Terminal;
  socket?: WebSocket;
}

let current: Open | undefined;

/** The element the terminal lives in: the same node on every redraw, so xterm keeps its state. */
export function terminalView(sandboxId: string): HTMLElement {
  if (current?.sandboxId !== sandboxId) {
    current?.socket?.close();
    current?.term?.dispose();
    const host = document.createElement("div");
    host.className = "terminal";
    host.setAttribute("aria-label", "Terminal");
    current = { sandboxId, host };
  }
  return current.host;
}

export function openTerminal(sandboxId: string): Promise<void> {
  const view = current?.sandboxId === sandboxId ? current : undefined;
  if (!view) return Promise.resolve();
  view.socket?.close();
  view.term?.dispose();
  const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 14, scrollback: 5000 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(view.host);
  fit.fit();
  view.term = term;
  return attempt("terminal", async () => {
    const t = await json<TerminalInfo>("POST", `/v1/sandboxes/${enc(sandboxId)}/terminals`, {
      cols: term.cols,
      rows: term.rows,
    });
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(
      `${scheme}://${location.host}/v1/sandboxes/${enc(sandboxId)}/terminals/${enc(t.id)}/attach`,
    );
    ws.binaryType = "arraybuffer";
    view.socket = ws;
    const encoder = new TextEncoder();
    ws.onmessage = (m: MessageEvent<ArrayBuffer | string>) => {
      if (typeof m.data !== "string") return term.write(new Uint8Array(m.data));
      const msg = JSON.parse(m.data) as { type: string; exitCode?: number };
      if (msg.type === "exit") term.write(`\r\n[exited with code ${msg.exitCode ?? "?"}]\r\n`);
    };
    ws.onclose = (e) => {
      if (e.code !== 1000) notify(`terminal closed (${e.code})`, true);
    };
    // Keys typed before the socket is open are sent when it opens, not lost.
    const early: string[] = [];
    ws.onopen = () => early.splice(0).forEach((d) => ws.send(encoder.encode(d)));
    term.onData((d) => (ws.readyState === WebSocket.OPEN ? ws.send(encoder.encode(d)) : early.push(d)));
    term.onResize(({ cols, rows }) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", cols, rows }));
    });
    const refit = () => fit.fit();
    window.addEventListener("resize", refit);
    ws.addEventListener("close", () => window.removeEventListener("resize", refit));
    term.focus();
  });
}
