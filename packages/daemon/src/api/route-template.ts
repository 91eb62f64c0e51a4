// The route template of a request path, from the API's path table (@sbx-sh/protocol ROUTES), for
// the request log and metrics when no hono route answered it: the control plane's routing answers
// forwarded calls from a middleware (api/cluster-routing.ts), so hono knows only `/v1/*` for them.
// A template, never the raw path: ids in paths would make unbounded metric labels.
import { ROUTES } from "@sbx-sh/protocol";

interface Template {
  re: RegExp;
  /** In hono's spelling (`/v1/sandboxes/:id/exec`), as the app's own routes are labelled. */
  route: string;
}

let compiled: Template[] | undefined;

/** The table's templates, those with fewer placeholders first: `/v1/sandboxes/prune` before `/v1/sandboxes/{id}`. */
function templates(): Template[] {
  compiled ??= Object.values(ROUTES)
    .map((t: string) => ({
      params: (t.match(/\{/g) ?? []).length,
      re: new RegExp(`^${t.replace(/[.]/g, "\\.").replace(/\{\w+\}/g, "[^/]+")}$`),
      route: t.replace(/\{(\w+)\}/g, ":$1"),
    }))
    .sort((a, b) => a.params - b.params)
    .map(({ re, route }) => ({ re, route }));
  return compiled;
}

/** The template `path` (no query) is an instance of, or undefined when the API has no such path. */
export function routeTemplateOf(path: string): string | undefined {
  return templates().find((t) => t.re.test(path))?.route;
}
