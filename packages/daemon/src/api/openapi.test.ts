// openapi.json is generated (`npm run openapi`): the committed file must match what the generator
// produces from the current schemas, and must document exactly the routes listed in docs/api.md.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

interface Generator {
  OPENAPI_PATH: string;
  renderOpenApi(): Promise<string>;
}

// scripts/ is outside tsconfig's rootDir (src), so the generator is imported by URL, untyped.
async function loadGenerator(): Promise<Generator> {
  const url: string = new URL("../../../../scripts/write-openapi.ts", import.meta.url).href;
  return (await import(url)) as Generator;
}

const HTTP_METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

/** "METHOD /path" for every row of the route table in docs/api.md (query strings dropped). */
function documentedRoutes(): string[] {
  const md = readFileSync(new URL("../../../../docs/api.md", import.meta.url), "utf8");
  const routes: string[] = [];
  for (const m of md.matchAll(/^\|\s*(GET|PUT|POST|DELETE|PATCH)\s*\|\s*`([^`]+)`\s*\|/gm)) {
    routes.push(`${m[1]} ${m[2]!.split("?")[0]}`);
  }
  return routes.sort();
}

function specRoutes(spec: { paths?: Record<string, Record<string, unknown>> }): string[] {
  const routes: string[] = [];
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    for (const method of Object.keys(item))
      if (HTTP_METHODS.includes(method)) routes.push(`${method.toUpperCase()} ${path}`);
  }
  return routes.sort();
}

describe("openapi.json", () => {
  it("is up to date with the API schemas", async () => {
    const gen = await loadGenerator();
    const committed = readFileSync(gen.OPENAPI_PATH, "utf8");
    expect(committed, "openapi.json is stale: run `npm run openapi` and commit the result").toBe(
      await gen.renderOpenApi(),
    );
  });

  it("documents every route of docs/api.md, and no others", () => {
    const spec = JSON.parse(readFileSync(new URL("../../../../openapi.json", import.meta.url), "utf8")) as Parameters<
      typeof specRoutes
    >[0];
    const documented = documentedRoutes();
    expect(documented.length, "the route table of docs/api.md was not found").toBeGreaterThanOrEqual(20);
    const inSpec = specRoutes(spec);
    expect(
      documented.filter((r) => !inSpec.includes(r)),
      "routes of docs/api.md missing from openapi.json",
    ).toEqual([]);
    expect(
      inSpec.filter((r) => !documented.includes(r)),
      "routes in openapi.json that docs/api.md does not list",
    ).toEqual([]);
  });
});
