// The dashboard's first load on loopback: a fresh browser profile (nothing cached) with a signed-in
// session opens /ui/ and the clock stops when the sandboxes list shows every running sandbox.
// Debian's Chromium driven by playwright-core, as in test/dashboard.e2e.test.ts.
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import type { SandboxClient } from "@sbx-sh/sdk";

const CHROMIUM = "/usr/bin/chromium";
/** The page's document, as far as the predicate below (run in the browser) uses it. */
declare const document: { querySelectorAll(selector: string): { length: number } };

/** A dashboard session for the client's project: the token goes to /ui/session once, as the sign-in page does. */
async function sessionCookie(client: SandboxClient, project: string, base: string): Promise<string> {
  const { token } = await client.createToken(project);
  const res = await fetch(`${base}/ui/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  const cookie = /sbx_session=([^;]+)/.exec(res.headers.get("set-cookie") ?? "")?.[1];
  if (res.status !== 201 || !cookie)
    throw new Error(`dashboard sign-in: HTTP ${res.status} (is sbxd running with --ui?)`);
  return cookie;
}

/**
 * Milliseconds from navigation start to the list showing at least `rows` sandboxes, one sample a
 * run, each in a new browser context (cold cache); the reason instead when there is no Chromium.
 */
export async function dashboardFirstLoad(
  client: SandboxClient,
  project: string,
  base: string,
  rows: number,
  runs: number,
): Promise<number[] | string> {
  if (!existsSync(CHROMIUM)) return `no ${CHROMIUM} (scripts/setup-host.sh --with-test-tools installs it)`;
  const cookie = await sessionCookie(client, project, base);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
  const samples: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      await ctx.addCookies([{ name: "sbx_session", value: cookie, url: base }]);
      const page = await ctx.newPage();
      await page.goto(`${base}/ui/#/sandboxes`, { waitUntil: "commit" });
      // The page's own clock, read in the frame the rows appeared: navigation start is its 0.
      // (A function, not a string: the dashboard's CSP forbids eval.)
      const shown = await page.waitForFunction(
        (n) =>
          document.querySelectorAll('table[aria-label="Sandboxes"] tbody tr').length >= n ? performance.now() : 0,
        rows,
        { timeout: 60_000, polling: "raf" },
      );
      samples.push((await shown.jsonValue()) as number);
      await ctx.close();
    }
  } finally {
    await browser.close();
  }
  return samples;
}
