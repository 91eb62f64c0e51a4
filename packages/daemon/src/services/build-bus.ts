// A build's own events (domain/build-events.ts) as the daemon's stream sees them: started, each
// step ended (cached or run, how long), finished (state, image, the failed step). Log lines stay
// in the build's own stream: the daemon-wide one is for what happened, not for output.
import type { BuildEvent } from "../domain/build-events.js";
import type { EventBus } from "./event-bus.js";

/** A function to call with each of one build's events; it publishes the ones the stream carries. */
export function buildPublisher(bus: EventBus | undefined, project: string, buildId: string): (ev: BuildEvent) => void {
  if (!bus) return () => undefined;
  let text = "";
  const started = Date.now();
  return (ev) => {
    if (ev.type === "build")
      bus.publish({
        type: "build.started",
        project,
        subject: buildId,
        attributes: { image: `${ev.build.imageName}:${ev.build.tag}`, steps: ev.build.steps },
      });
    else if (ev.type === "step") text = ev.text;
    else if (ev.type === "step_done")
      bus.publish({
        type: "build.step",
        project,
        subject: buildId,
        attributes: { step: ev.step, text, cached: ev.cached, durationMs: ev.durationMs },
      });
    else if (ev.type === "done") {
      bus.publish({
        type: "build.finished",
        project,
        subject: buildId,
        attributes: {
          image: `${ev.build.imageName}:${ev.build.tag}`,
          state: ev.build.state,
          failedStep: ev.build.failure?.step ?? null,
          durationMs: Date.now() - started,
        },
      });
      if (ev.image)
        bus.publish({
          type: "image.registered",
          project,
          subject: ev.image.id,
          attributes: { image: `${ev.image.name}:${ev.image.tag}`, buildId },
        });
    }
  };
}
