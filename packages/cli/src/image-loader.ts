// Loads a user's image file (.ts or .js, no build step of theirs) with jiti and finds the images
// it exports, directly or attached to exported functions. `@sbx-sh/sdk` (and the older `sbx`)
// resolve to this CLI's own SDK, so a file in a folder without node_modules works.
import { existsSync, statSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createJiti } from "jiti";
import { SbxError } from "@sbx-sh/protocol";
import { imageOf, Image } from "@sbx-sh/sdk";
import * as sdk from "@sbx-sh/sdk";
import { displayPath } from "@sbx-sh/sdk/internal";

export interface FoundImage {
  image: Image;
  /** The export it was found through (`default` for a default export). */
  exportName: string;
  via: "export" | "function";
}

export interface LoadedImageFile {
  file: string;
  images: FoundImage[];
}

/** The folder of the SDK this CLI runs (its dist/, or src/ in a checkout run from source). */
const SDK_DIR = dirname(fileURLToPath(import.meta.resolve("@sbx-sh/sdk")));

/** What the loader evaluates: TypeScript and JavaScript modules, and Python files (image-loader-python.ts). */
const IMAGE_FILE_EXTENSIONS = [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".py"];

/** Refuses a file the loader cannot evaluate with a message that says what sbx does accept. */
export function assertImageFileKind(file: string): void {
  const ext = extname(file).toLowerCase();
  if (IMAGE_FILE_EXTENSIONS.includes(ext)) return;
  throw new SbxError(
    "invalid_argument",
    `${file}: sbx image create builds from a TypeScript, JavaScript or Python file that defines an Image ` +
      `(${IMAGE_FILE_EXTENSIONS.join(", ")}; \`new Image({ name: "web" }).run("...")\`) or from a Dockerfile ` +
      `(\`sbx image create -f Dockerfile -n web .\`)${ext ? `, not a ${ext} file` : ""}`,
  );
}

/** Evaluates `file` and collects its images (each once, in export order). */
export async function loadImageFile(file: string): Promise<LoadedImageFile> {
  const abs = resolve(file);
  if (/\.py$/i.test(abs)) {
    const { loadPythonImageFile } = await import("./image-loader-python.js");
    return loadPythonImageFile(abs);
  }
  if (!existsSync(abs) || !statSync(abs).isFile()) {
    throw new SbxError(
      "invalid_argument",
      `image file ${file} does not exist: give the path of a .ts, .js or .py file that defines an Image`,
    );
  }
  assertImageFileKind(file);
  const jiti = createJiti(import.meta.url, {
    // The very modules this CLI runs, so `instanceof Image` and Image.defaultBaseImage are shared.
    virtualModules: { "@sbx-sh/sdk": sdk, sbx: sdk },
    // `@sbx-sh/sdk/<module>` (or `sbx/<module>`, the name image files used before) reaches into the SDK's folder (loaded as a second copy; images are recognised by brand).
    alias: { "@sbx-sh/sdk": SDK_DIR, sbx: SDK_DIR },
    moduleCache: false,
  });
  let mod: Record<string, unknown>;
  try {
    mod = (await jiti.import(abs)) as Record<string, unknown>;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const where = err instanceof Error ? userFrame(err, abs) : "";
    const code = err instanceof SbxError ? err.code : "invalid_argument";
    throw new SbxError(
      code,
      `cannot load ${displayPath(abs)}${where ? ` (${where})` : ""}: ${message}`,
      { file: abs, ...(err instanceof SbxError ? err.details : {}) },
      { cause: err },
    );
  }
  // Keyed by the value as the file made it, so an image exported twice (or also through a function) counts once.
  // Export order is not kept by the transform, so names go in a fixed order (direct exports
  // first) and images in the order the file declared them.
  const found = new Map<unknown, FoundImage>();
  const names = [...new Set([...Object.keys(mod), ...("default" in mod ? ["default"] : [])])].sort();
  for (const direct of [true, false]) {
    for (const exportName of names) {
      const value = mod[exportName];
      const image = direct ? (Image.isImage(value) ? value : undefined) : imageOf(value);
      if (image && !found.has(image))
        found.set(image, { image: Image.from(image), exportName, via: direct ? "export" : "function" });
    }
  }
  const images = [...found.values()].sort(
    (a, b) =>
      (a.image.source?.line ?? 0) - (b.image.source?.line ?? 0) ||
      (a.image.source?.column ?? 0) - (b.image.source?.column ?? 0),
  );
  return { file: abs, images };
}

/** The image to build: the only one, or the one named by `--image-name` (image name, else export name). */
export function chooseImage(loaded: LoadedImageFile, imageName?: string): FoundImage {
  const file = displayPath(loaded.file);
  const list = loaded.images
    .map((f) => `${f.image.name} (export ${f.exportName}${f.via === "function" ? ", a function's image" : ""})`)
    .join(", ");
  if (!loaded.images.length) {
    throw new SbxError(
      "invalid_argument",
      /\.py$/i.test(loaded.file)
        ? `${file} defines no image: assign one at top level (image = Image(name="my-image")...) or attach one to a function with @function(image=...)`
        : `${file} exports no image: export one (export const image = new Image({ name: "my-image" })...) or a function made with defineFunction({ image }, handler)`,
    );
  }
  if (imageName !== undefined) {
    const byName = loaded.images.filter((f) => f.image.name === imageName);
    const match = byName.length ? byName : loaded.images.filter((f) => f.exportName === imageName);
    if (match.length === 1) return match[0]!;
    if (match.length > 1)
      throw new SbxError("invalid_argument", `${file} has ${match.length} images named ${imageName}: ${list}`);
    throw new SbxError("invalid_argument", `${file} has no image named ${imageName}; it has: ${list}`);
  }
  if (loaded.images.length > 1) {
    throw new SbxError(
      "invalid_argument",
      `${file} has ${loaded.images.length} images: ${list}; choose one with --image-name <name>`,
      {
        images: loaded.images.map((f) => f.image.name),
      },
    );
  }
  return loaded.images[0]!;
}

/** `image.ts:3:7` of the first stack frame in the user's file, for errors thrown while loading it. */
function userFrame(err: Error, file: string): string {
  const line = err.stack?.split("\n").find((l) => l.includes(file));
  const m = line ? /:(\d+):(\d+)\)?$/.exec(line) : null;
  return m ? `${displayPath(file)}:${m[1]}` : "";
}
