// A stand-in for one agent connection (AgentClient), for unit tests of what runs over it: it answers
// every request OK at once and lets the test play the agent's events (output, exits) in the order a
// real agent can, or a hostile one would.
import type { AgentClient } from "../agent/agent-client.js";

export type OutputCb = ((stream: "stdout" | "stderr", data: Buffer) => void) | undefined;

/** A stand-in connection: `onRequest` sees each request's frame and process id; every request is answered OK. */
export function standInWith(
  onRequest: (
    frame: Buffer,
    procId: string,
    outputs: Map<string, OutputCb>,
    exits: Map<string, (code: number) => void>,
  ) => void,
  /** The protocol version the connection speaks. */
  version = 3,
  /** Called when the connection is paused (true) or resumed (false). */
  onPause?: (paused: boolean) => void,
): AgentClient {
  const outputs = new Map<string, OutputCb>();
  const exits = new Map<string, (code: number) => void>();
  const fake = {
    failed: undefined,
    sandboxId: "sb_t",
    version,
    request: (build: (q: number) => Buffer[]) => {
      const frame = Buffer.concat(build(1));
      // Every request carries the process id as its first string (after the 9-byte head).
      const idLen = frame.readUInt32BE(9);
      onRequest(frame, frame.subarray(13, 13 + idLen).toString(), outputs, exits);
      return Promise.resolve({ type: 0x80, body: Buffer.alloc(0) });
    },
    onOutput: (procId: string, cb: OutputCb) => void outputs.set(procId, cb),
    onExit: (procId: string, cb: (code: number) => void) => {
      exits.set(procId, cb);
      return () => exits.delete(procId);
    },
    onFail: () => () => undefined,
    pause: () => onPause?.(true),
    resume: () => onPause?.(false),
    close: () => undefined,
  };
  return fake as unknown as AgentClient;
}
