// The log of a Tensorlake image build as its relay process replays it: lines pushed as the builds
// produce them, read from the start (a reader that comes late sees everything), until closed.
export class LogChannel {
  private readonly lines: string[] = [];
  private closed = false;
  private wake: Array<() => void> = [];

  push(text: string): void {
    if (this.closed || !text) return;
    this.lines.push(text);
    this.notify();
  }

  close(): void {
    this.closed = true;
    this.notify();
  }

  async *read(): AsyncGenerator<string> {
    for (let i = 0; ;) {
      while (i < this.lines.length) yield this.lines[i++]!;
      if (this.closed) return;
      await new Promise<void>((resolve) => this.wake.push(resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = [];
    for (const w of wake) w();
  }
}
