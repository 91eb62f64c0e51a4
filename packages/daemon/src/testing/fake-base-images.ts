// Base images for a daemon on FakeRuntime: every name is a recipe whose rootfs is the fake base
// layer (FAKE_BASE), ready at once, so nothing is built with mmdebstrap and nothing is unpacked.
import { createHash } from "node:crypto";
import { SbxError } from "@sbx-sh/protocol";
import type { BaseImage, BaseImageSource } from "../build/base-images.js";
import { FAKE_BASE } from "../runtime/testing/fake-runtime.js";

/** What the real debian-minimal recipe configures (base-recipes.ts), on the fake layer. */
const CONFIG = {
  env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  workingDir: "/",
  user: "root",
  systemd: false,
};

/** Base images named `names`, all with `config` (default: what debian-minimal configures). */
export function fakeBaseImages(
  names: string[] = ["debian-minimal"],
  config: BaseImage["config"] = CONFIG,
): BaseImageSource {
  const image = (name: string): BaseImage => ({
    name,
    digest: `sha256:${createHash("sha256").update(`fake base ${name}`).digest("hex")}`,
    rootfs: FAKE_BASE,
    sizeBytes: 30 * 1024 * 1024,
    config: structuredClone(config),
  });
  return {
    recipes: () => [...names],
    list: () => names.map(image),
    ensure: async (name) => {
      if (!names.includes(name))
        throw new SbxError("image_not_found", `unknown base image ${JSON.stringify(name)}: choose one of ${names}`);
      return image(name);
    },
  };
}
