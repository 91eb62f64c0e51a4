// Base images for service tests: one recipe whose rootfs is FakeRuntime's built-in base layer, so
// images resolve, builds stack on it and sandboxes start from it without mmdebstrap, zstd or root.
import type { BaseImage, BaseImages } from "../../build/base-images.js";
import { FAKE_BASE } from "../../runtime/testing/fake-runtime.js";

/** The base image's name (the daemon's default image in these tests). */
export const FAKE_BASE_IMAGE = "fake-base";

/** What ImageService asks of the base images. */
type BaseCatalog = Pick<BaseImages, "recipes" | "ensure" | "list">;

export function fakeBases(): BaseImages {
  const base: BaseImage = {
    name: FAKE_BASE_IMAGE,
    digest: "sha256:" + "fb".repeat(32),
    rootfs: FAKE_BASE,
    sizeBytes: 4096,
    config: {
      env: ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
      workingDir: "/",
      user: "root",
      systemd: false,
    },
  };
  const catalog: BaseCatalog = {
    recipes: () => [FAKE_BASE_IMAGE],
    ensure: async (name) => {
      if (name !== FAKE_BASE_IMAGE) throw new Error(`fakeBases has no base image ${name}`);
      return structuredClone(base);
    },
    list: () => [structuredClone(base)],
  };
  // ImageService is typed with the whole class; it uses only the catalog's three methods.
  return catalog as BaseImages;
}
