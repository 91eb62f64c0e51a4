// `sbx run --image x` without a command runs the image's own program (ENTRYPOINT + CMD, as
// Docker does) in the foreground; the sandbox is created with noEntrypoint so it is not also
// started in the background.
import { SbxError } from "@sbx-sh/protocol";
import type { Sandbox, SandboxClient } from "@sbx-sh/sdk";

export async function imageProgram(client: SandboxClient, sb: Sandbox): Promise<[string, string[]]> {
  const info = await sb.info();
  const image = await client.getImage(info.image);
  const argv = [...(image.config.entrypoint ?? []), ...(image.config.cmd ?? [])];
  const [command, ...args] = argv;
  if (!command)
    throw new SbxError(
      "invalid_argument",
      `no command given, and image ${info.image} has no ENTRYPOINT or CMD: put a command after --, e.g. \`sbx run --image ${info.image} -- ls\``,
    );
  return [command, args];
}
