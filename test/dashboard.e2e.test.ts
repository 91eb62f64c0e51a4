// The web dashboard in a real browser (Debian's Chromium driven by playwright-core) against a real
// daemon on TCP with --ui and real crun sandboxes: sign-in, create, a terminal running `echo`,
// upload and download, a build's log streamed to its failed step, terminate; and the attacks: a
// wrong token, a token in the URL, forged and signed-out sessions, CSRF, another origin, another
// project's sandbox, HTML in file names and output; labels and keyboard use. Then the pools page,
// sandbox labels (shown, filtered through the API), the project's tokens (revoke ends sessions)
// and a build step that floods ~100 MB of output (the capped log streams, the page stays usable).
// Screenshots go to a temp dir; SBX_UPDATE_SCREENSHOTS=1 copies them to docs/screenshots.
import { copyFile, mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Image, Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { freePort, REPO, TestDaemon, waitFor } from "./harness.js";

let daemon: TestDaemon;
let base = "";
let metricsPort = 0;
let token = "";
let otherSandbox: Sandbox;
let ctx: BrowserContext;
let page: Page;
let shots = "";
const dash = () => new SandboxClient({ host: daemon.host, project: "dash" });

beforeAll(async () => {
  const port = await freePort();
  metricsPort = await freePort();
  daemon = new TestDaemon({
    name: "dash",
    netIndex: 9,
    extraArgs: ["--listen-tcp", `127.0.0.1:${port}`, "--ui", "--metrics-listen", `127.0.0.1:${metricsPort}`],
  });
  await daemon.reset();
  await daemon.start();
  base = `http://127.0.0.1:${port}`;
  const admin = new SandboxClient({ host: daemon.host });
  await admin.createProject("dash");
  await admin.createProject("other");
  token = (await admin.createToken("dash")).token ?? "";
  otherSandbox = await Sandbox.create(
    { allowInternetAccess: false },
    new SandboxClient({ host: daemon.host, project: "other" }),
  );
  shots = await mkdtemp(join(tmpdir(), "sbx-shots-"));
  ctx = await chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), "sbx-chromium-")), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  page = ctx.pages()[0] ?? (await ctx.newPage());
});

afterAll(async () => {
  await ctx?.close();
  for (const project of ["dash", "other"]) {
    const c = new SandboxClient({ host: daemon.host, project });
    for (const s of await c.list().catch(() => [])) await c.terminate(s.id).catch(() => undefined);
  }
  await daemon?.stop();
  if (process.env.SBX_UPDATE_SCREENSHOTS === "1")
    for (const name of ["signin", "sandboxes", "sandbox", "images", "snapshots", "pools", "project"])
      await copyFile(join(shots, `${name}.png`), join(REPO, "docs", "screenshots", `${name}.png`)).catch(
        () => undefined,
      );
});

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function signIn(value: string): Promise<void> {
  await page.goto(`${base}/ui/`);
  await page.getByLabel("Project token").fill(value);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function sessionCookie(): Promise<string> {
  return (await ctx.cookies(base)).find((c) => c.name === "sbx_session")?.value ?? "";
}

describe("dashboard", () => {
  it("refuses a wrong token and a token in the URL", async () => {
    await signIn("sbxt_wrong");
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("not valid");
    expect(await sessionCookie()).toBe("");
    await page.goto(`${base}/ui/?token=${encodeURIComponent(token)}#/sandboxes`);
    await page.getByLabel("Project token").waitFor();
    expect(await sessionCookie()).toBe("");
    expect((await fetch(`${base}/v1/sandboxes?token=${encodeURIComponent(token)}`)).status).toBe(401);
    await shot("signin");
  });

  it("signs in with a token it never shows again, into an HttpOnly SameSite=Strict session", async () => {
    // Keyboard only: the field has focus order before the button.
    await page.goto(`${base}/ui/`);
    await page.getByLabel("Project token").focus();
    await page.keyboard.type(token);
    await page.keyboard.press("Tab");
    expect(await page.evaluate<string>("document.activeElement?.textContent")).toBe("Sign in");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Sandboxes" }).waitFor();
    const cookie = (await ctx.cookies(base)).find((c) => c.name === "sbx_session")!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    expect(await page.content()).not.toContain(token);
    const stored = await page.evaluate<string>(
      "JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })",
    );
    expect(stored).not.toContain(token);
    expect(await page.evaluate<string>("document.cookie")).not.toContain(cookie.value);
    // Hashed asset names, cached for a year; the index is revalidated.
    const html = await (await fetch(`${base}/ui/`)).text();
    const asset = /\/ui\/assets\/index-[\w-]{8}\.js/.exec(html)![0];
    expect((await fetch(`${base}${asset}`)).headers.get("cache-control")).toContain("immutable");
  });

  it("creates a sandbox from the form and lists it live", async () => {
    for (const label of ["Image", "Name", "CPUs", "Memory (MiB)", "Timeout (s)", "Internet access"])
      expect(await page.getByLabel(label, { exact: true }).count()).toBeGreaterThanOrEqual(1);
    await page.getByLabel("Name", { exact: true }).fill("from-ui");
    await page.getByLabel("Labels", { exact: true }).fill("origin=ui, team=web");
    await page.getByRole("button", { name: "Create sandbox" }).click();
    const row = page.locator("tr", { hasText: "from-ui" });
    await row.getByText("running").waitFor({ timeout: 60_000 });
    expect((await dash().list()).find((s) => s.name === "from-ui")?.labels).toEqual({ origin: "ui", team: "web" });
    // Every button says what it does.
    const unnamed = await page.$$eval(
      "button",
      (bs) => bs.filter((b) => !(b.textContent?.trim() || b.getAttribute("aria-label"))).length,
    );
    expect(unnamed).toBe(0);
    // A sandbox created elsewhere appears without a reload (the event stream).
    const outside = await Sandbox.create({ allowInternetAccess: false, name: "from-sdk" }, dash());
    await page.locator("tr", { hasText: "from-sdk" }).waitFor();
    await outside.terminate();
    await shot("sandboxes");
  });

  it("runs echo in the browser terminal, uploads and downloads, and shows hostile names as text", async () => {
    const sb = await Sandbox.connect("from-ui", dash());
    await sb.writeFile("/<img src=x onerror=alert(1)>.txt", "hostile name");
    await sb.run("sh", { args: ["-c", "echo '<b>bold</b><script>window.pwned=1</script>'"] });
    await page.locator("tr", { hasText: "from-ui" }).getByRole("link").click();
    await page.getByRole("heading", { name: "Terminal" }).waitFor();
    await page.getByRole("button", { name: "Open terminal" }).click();
    // The shell's prompt: the terminal is attached and its program reads.
    await expect.poll(() => page.locator(".xterm-rows").textContent(), { timeout: 30_000 }).toContain("#");
    await page.locator(".xterm-helper-textarea").focus();
    await page.keyboard.type("echo hello-$((6*7))\n");
    await expect.poll(() => page.locator(".xterm-rows").textContent(), { timeout: 30_000 }).toContain("hello-42");

    await page.getByLabel("Upload to this directory").setInputFiles({
      name: "up.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("uploaded from the browser\n"),
    });
    await page.getByRole("link", { name: "up.txt" }).waitFor();
    expect((await sb.readFile("/up.txt")).toString()).toBe("uploaded from the browser\n");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "up.txt" }).click(),
    ]);
    expect(await readFile((await download.path())!, "utf8")).toBe("uploaded from the browser\n");

    const listing = page.getByLabel("Directory listing");
    await listing.getByText("<img src=x onerror=alert(1)>.txt").waitFor();
    expect(await listing.locator("img").count()).toBe(0);
    await page.locator("tr", { hasText: "echo" }).getByRole("button", { name: "Logs" }).first().click();
    await page.locator(".logs").getByText("<b>bold</b><script>window.pwned=1</script>").waitFor();
    expect(await page.evaluate<unknown>("window.pwned")).toBeUndefined();
    await page.getByRole("img", { name: /cpu and memory/ }).waitFor();
    await shot("sandbox");
  });

  it("streams a build's log to the failed step's report", async () => {
    const image = new Image({ name: "ui-fails" }).run("echo step-one-output").run("sh -c 'echo about-to-fail; exit 3'");
    const build = await image.startBuild({ client: dash() });
    await page.goto(`${base}/ui/#/images`);
    await page.locator("tr", { hasText: build.id }).getByRole("button", { name: "Logs" }).click({ timeout: 30_000 });
    const report = page.getByRole("alert", { name: "Build failure" });
    await report.waitFor({ timeout: 120_000 });
    expect(await report.textContent()).toContain("exit code 3");
    // A build that failed before Logs was clicked shows its report at once (from the build's row),
    // while its events are still being replayed into the output: wait for them, not for the report.
    await expect.poll(() => page.getByLabel("Build output").textContent()).toContain("step-one-output");
    await shot("images");
    await page.getByRole("link", { name: "Snapshots" }).click();
    await page.getByRole("heading", { name: "Snapshots" }).waitFor();
    await shot("snapshots");
  });

  it("refuses CSRF, other origins and another project's sandbox", async () => {
    await page.goto(`${base}/ui/#/sandboxes`);
    const noCsrf = await page.evaluate(async () => {
      const r = await fetch("/v1/sandboxes", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      return { status: r.status, body: (await r.json()) as { error: { code: string } } };
    });
    expect(noCsrf).toMatchObject({ status: 403, body: { error: { code: "permission_denied" } } });
    const cookie = `sbx_session=${await sessionCookie()}`;
    const crossOrigin = await fetch(`${base}/v1/sandboxes`, { headers: { cookie, origin: "http://evil.example" } });
    expect(crossOrigin.status).toBe(403);
    expect((await fetch(`${base}/v1/sandboxes`, { headers: { cookie } })).status).toBe(200);
    await page.goto(`${base}/ui/#/sandboxes/${otherSandbox.id}`);
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("does not exist in project dash");
    expect(await page.getByText("Resources").count()).toBe(0);
  });

  it("shows labels as text and filters by them through the API", async () => {
    const ml = await Sandbox.create(
      { allowInternetAccess: false, name: "labelled-ml", labels: { team: "ml", note: "<i>x</i>" } },
      dash(),
    );
    await page.goto(`${base}/ui/#/sandboxes`);
    const mlRow = page.locator("tr", { hasText: "labelled-ml" });
    await mlRow.getByText("team=ml").waitFor();
    await mlRow.getByText("note=<i>x</i>").waitFor();
    expect(await page.getByRole("table", { name: "Sandboxes" }).locator("i").count()).toBe(0);
    const filter = page.getByLabel(/^Label \(key or key=value/);
    await filter.fill("team=ml");
    await filter.press("Enter");
    await expect.poll(() => page.locator("tr", { hasText: "from-ui" }).count()).toBe(0);
    expect(await mlRow.count()).toBe(1);
    await filter.fill("team");
    await filter.press("Enter");
    await page.locator("tr", { hasText: "from-ui" }).waitFor();
    expect(await mlRow.count()).toBe(1);
    await filter.fill("");
    await filter.press("Enter");
    await ml.terminate();
  });

  it("creates a pool, shows its warm sandboxes and claims live, and removes it", async () => {
    await page.getByRole("link", { name: "Pools" }).click();
    await page.getByRole("heading", { name: "Pools" }).waitFor();
    await page.getByLabel("Warm", { exact: true }).fill("1");
    await page.getByLabel("Max claimed", { exact: true }).fill("3");
    await page.getByRole("button", { name: "Create pool" }).click();
    await waitFor(async () => (await dash().listPools()).length === 1, 30_000, "the pool");
    const pool = (await dash().listPools())[0]!;
    expect(pool).toMatchObject({ warm: 1, max: 3, project: "dash" });
    const row = page.locator("tr", { hasText: pool.id });
    await expect.poll(() => row.getByLabel("ready of warm").textContent(), { timeout: 60_000 }).toContain("1 / 1");
    const claimed = await Sandbox.create({ pool: pool.id }, dash());
    // The claim is counted on the page without a reload (pool events).
    await expect.poll(() => row.locator("td").nth(4).textContent(), { timeout: 30_000 }).toContain("1");
    await shot("pools");
    await row.getByRole("button", { name: `Remove pool ${pool.id}` }).click();
    await row.waitFor({ state: "detached" });
    expect(await dash().listPools()).toEqual([]);
    await claimed.terminate();
  });

  it("lists the project's tokens, revokes another one and signs out its sessions; minting stays root's", async () => {
    const admin = new SandboxClient({ host: daemon.host });
    const second = await admin.createToken("dash");
    // A second dashboard session, signed in with the second token.
    const signIn2 = await fetch(`${base}/ui/session`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: second.token }),
    });
    expect(signIn2.status).toBe(201);
    const cookie2 = /sbx_session=([^;]+)/.exec(signIn2.headers.get("set-cookie") ?? "")![1]!;
    expect((await fetch(`${base}/v1/sandboxes`, { headers: { cookie: `sbx_session=${cookie2}` } })).status).toBe(200);

    await page.getByRole("link", { name: "Project" }).click();
    await page.getByRole("heading", { name: "Project dash" }).waitFor();
    const mine = (await admin.listTokens("dash")).find((t) => t.id !== second.id)!;
    await page.locator("tr", { hasText: second.id }).waitFor();
    const mineRow = page.locator("tr", { hasText: mine.id });
    await mineRow.getByText("this session's token").waitFor();
    expect(await mineRow.getByRole("button").count()).toBe(0);
    expect(await page.content()).not.toContain(second.token!);
    await shot("project");

    page.once("dialog", (d) => void d.accept());
    await page.getByRole("button", { name: `Revoke token ${second.id}` }).click();
    await page.locator("tr", { hasText: second.id }).waitFor({ state: "detached" });
    expect((await admin.listTokens("dash")).map((t) => t.id)).toEqual([mine.id]);
    expect((await fetch(`${base}/v1/sandboxes`, { headers: { cookie: `sbx_session=${cookie2}` } })).status).toBe(401);
    expect((await fetch(`${base}/v1/sandboxes`, { headers: { authorization: `Bearer ${second.token}` } })).status).toBe(
      401,
    );

    // From the page's own session: its token cannot be revoked, new tokens cannot be minted.
    const refused = await page.evaluate(async (id) => {
      const csrf = (await (await fetch("/ui/session")).json()) as { csrf: string };
      const h = { "x-sbx-csrf": csrf.csrf };
      const own = await fetch(`/v1/projects/dash/tokens/${id}`, { method: "DELETE", headers: h });
      const mint = await fetch("/v1/projects/dash/tokens", { method: "POST", headers: h });
      return [own.status, mint.status];
    }, mine.id);
    expect(refused).toEqual([412, 403]);
    expect(await admin.listTokens("dash")).toHaveLength(1);
  });

  it("streams a build step's ~100 MB of output capped, with the marker, and the page stays usable", async () => {
    const image = new Image({ name: "ui-flood" }).run("yes sbx-flood-line | head -c 100000000");
    const build = await image.startBuild({ client: dash() });
    await page.goto(`${base}/ui/#/images`);
    await page.locator("tr", { hasText: build.id }).getByRole("button", { name: "Logs" }).click({ timeout: 30_000 });
    const output = page.getByLabel("Build output");
    await expect
      .poll(() => output.textContent(), { timeout: 180_000 })
      .toMatch(/bytes of this step's output were left out[\s\S]*build succeeded/);
    const text = (await output.textContent()) ?? "";
    expect(text).toContain("sbx-flood-line");
    // The step really printed ~100 MB: all but the first MiB was counted, not shown.
    expect(Number(/(\d+) bytes of this step's output were left out/.exec(text)![1])).toBeGreaterThan(98_000_000);
    // What keeps the page responsive: the log holds at most 5,000 lines, the rest are counted.
    expect(text.split("\n").length).toBeLessThanOrEqual(5000);
    await page.getByText(/earlier lines not shown/).waitFor();
    await page.getByRole("link", { name: "Snapshots" }).click();
    await page.getByRole("heading", { name: "Snapshots" }).waitFor();
  });

  it("terminates from the page, then refuses forged and signed-out sessions", async () => {
    await page.goto(`${base}/ui/#/sandboxes`);
    await page
      .locator("tr", { hasText: "from-ui" })
      .getByRole("button", { name: /^Terminate/ })
      .click();
    await waitFor(async () => (await dash().list()).every((s) => s.name !== "from-ui"), 30_000, "terminated");
    const old = await sessionCookie();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Project token").waitFor();
    expect((await fetch(`${base}/v1/sandboxes`, { headers: { cookie: `sbx_session=${old}` } })).status).toBe(401);
    const forged = "A".repeat(43);
    expect((await fetch(`${base}/v1/sandboxes`, { headers: { cookie: `sbx_session=${forged}` } })).status).toBe(401);
    await ctx.addCookies([{ name: "sbx_session", value: forged, url: base }]);
    await page.goto(`${base}/ui/`);
    await page.getByLabel("Project token").waitFor();
  });

  it("serves metrics on its own listener only", async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("sbx_http_requests_total");
    expect((await fetch(`http://127.0.0.1:${metricsPort}/v1/info`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
  });
});
