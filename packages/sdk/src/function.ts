// defineFunction: a handler with the image it runs in attached, so `sbx image create app.ts`
// finds images through exported functions too. The attachment is a global symbol rather than a
// WeakMap, so it survives the CLI loading the user's file with its own copy of the SDK.
import { SbxError } from "@sbx-sh/protocol";
import { Image } from "./image.js";

export const FUNCTION_META = Symbol.for("sbx.function");

export interface FunctionOptions {
  /** The image the function runs in. */
  image: Image;
  /** Defaults to the handler's own name. */
  name?: string;
  description?: string;
}

export interface FunctionMeta {
  image: Image;
  name: string;
  description?: string;
}

/** A handler returned by defineFunction: callable as before, with its metadata attached. */
export type SbxFunction<F extends (...args: never[]) => unknown> = F & { readonly [FUNCTION_META]: FunctionMeta };

export function defineFunction<F extends (...args: never[]) => unknown>(
  options: FunctionOptions,
  handler: F,
): SbxFunction<F> {
  if (typeof options !== "object" || options === null || !Image.isImage(options.image)) {
    throw new SbxError("invalid_argument", "defineFunction({ image, ... }, handler): `image` must be an Image");
  }
  if (typeof handler !== "function")
    throw new SbxError("invalid_argument", "defineFunction({ image, ... }, handler): the handler must be a function");
  const meta: FunctionMeta = { image: options.image, name: options.name ?? (handler.name || options.image.name) };
  if (options.description !== undefined) meta.description = options.description;
  Object.defineProperty(handler, FUNCTION_META, { value: meta, enumerable: false, configurable: true });
  return handler as SbxFunction<F>;
}

/** The image attached to a function by defineFunction (from any copy of the SDK), if any. */
export function imageOf(fn: unknown): Image | undefined {
  if (typeof fn !== "function") return undefined;
  const meta = (fn as unknown as Record<symbol, unknown>)[FUNCTION_META] as { image?: unknown } | undefined;
  return meta && Image.isImage(meta.image) ? meta.image : undefined;
}
