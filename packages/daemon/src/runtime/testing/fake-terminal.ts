// Terminals of FakeRuntime: a program whose stdout and stderr both reach the terminal's data
// listeners (as on a pty), whose stdin is what the client types, and which a kill ends with
// 137. Resizes are recorded, so tests can see them.
import type { TerminalHandle } from "../types.js";
import type { FakeProcess } from "./fake-process.js";

export class FakeTerminal implements TerminalHandle {
  private readonly dataListeners: Array<(data: Buffer) => void> = [];
  private readonly process: FakeProcess;
  readonly sizes: Array<[number, number]> = [];

  constructor(cols: number, rows: number, start: (onOutput: (data: Buffer) => void) => FakeProcess) {
    this.sizes.push([cols, rows]);
    this.process = start((data) => {
      for (const l of this.dataListeners) l(data);
    });
  }

  onData(cb: (data: Buffer) => void): void {
    this.dataListeners.push(cb);
  }

  onExit(cb: (exitCode: number) => void): void {
    void this.process.done.then(cb);
  }

  write(data: Buffer | string): void {
    void this.process.writeStdin(Buffer.from(data)).catch(() => undefined);
  }

  async resize(cols: number, rows: number): Promise<void> {
    this.sizes.push([cols, rows]);
    await this.process.signal("SIGWINCH");
  }

  async kill(): Promise<void> {
    await this.process.signal("SIGKILL");
  }
}
