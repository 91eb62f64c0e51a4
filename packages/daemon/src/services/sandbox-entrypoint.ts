// The program a sandbox starts by itself: its image's ENTRYPOINT + CMD, or the create request's
// `entrypoint`, started once the sandbox runs as an ordinary managed background process (listed
// with the others, its output in its logs, killable). A create whose program cannot be started
// leaves no sandbox behind. A program that starts and then fails is the process's own exit code.
import type { SandboxRecord } from "../domain/records.js";
import type { ProcessService } from "./process-service.js";
import type { SandboxService } from "./sandbox-service.js";

export async function startEntrypoint(
  s: { sandboxes: Pick<SandboxService, "terminate">; processes: Pick<ProcessService, "start"> },
  project: string,
  sb: SandboxRecord,
): Promise<void> {
  const argv = sb.config.entrypoint;
  if (!argv?.length) return;
  try {
    await s.processes.start(project, sb.id, { command: argv[0]!, args: argv.slice(1) });
  } catch (err) {
    await s.sandboxes.terminate(project, sb.id, "error").catch(() => undefined);
    throw err;
  }
}
