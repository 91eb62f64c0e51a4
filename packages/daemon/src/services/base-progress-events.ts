// While a request waits on a base image build, the phases that build enters go out on the daemon's
// event stream as `base.progress` events of the requesting project (subject: the base's name), so
// `sbx create` and `sbx image build` can show them instead of silence. A base already built emits
// nothing: the wait is a file read.
import type { BaseImage, BaseImageSource } from "../build/base-images.js";
import type { EventBus } from "./event-bus.js";

export async function ensureWithProgress(
  bases: BaseImageSource,
  bus: EventBus | undefined,
  project: string | undefined,
  name: string,
): Promise<BaseImage> {
  if (!bus || project === undefined || !bases.watch || bases.get?.(name)) return bases.ensure(name);
  const stop = bases.watch(name, (p) =>
    bus.publish({
      type: "base.progress",
      project,
      subject: name,
      attributes: {
        base: name,
        phase: p.phase,
        step: p.step,
        total: p.total,
        packages: p.packages?.done ?? null,
        packagesTotal: p.packages?.total ?? null,
      },
    }),
  );
  try {
    return await bases.ensure(name);
  } finally {
    stop();
  }
}
