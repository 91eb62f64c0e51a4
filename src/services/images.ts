// Resolves the image a sandbox is launched from. Today that is one of the base images (built
// on first use, then cached); images built from code register here too once builds exist.
import { SbxError } from "../common/errors.js";
import type { BaseImage, BaseImages } from "../images/base-images.js";

export interface ResolvedImage {
  name: string;
  id: string;
  lowers: string[];
  config: { env: string[]; workingDir: string; user: string; systemd: boolean; init?: string[] };
  sizeBytes: number;
}

export class ImageService {
  constructor(
    private readonly bases: BaseImages,
    readonly defaultImage: string,
  ) {}

  async resolve(_project: string, name: string | undefined): Promise<ResolvedImage> {
    const wanted = name ?? this.defaultImage;
    const recipes = this.bases.recipes();
    if (!recipes.includes(wanted)) {
      throw new SbxError("image_not_found", `image ${JSON.stringify(wanted)} does not exist: available images are ${recipes.join(", ")}`);
    }
    return toResolved(await this.bases.ensure(wanted));
  }

  list(): ResolvedImage[] {
    return this.bases.list().map(toResolved);
  }
}

function toResolved(b: BaseImage): ResolvedImage {
  return { name: b.name, id: b.digest, lowers: [b.rootfs], config: b.config, sizeBytes: b.sizeBytes };
}
