// What a build keeps of its steps' output: build output is hostile input (a step can print
// gigabytes), so each step shows at most STEP_OUTPUT_BYTES live and each build BUILD_OUTPUT_BYTES;
// past that the step's output is only counted, and when the step ends a marker saying how much was
// left out is followed by its last TAIL_BYTES. Memory stays bounded whatever a step prints, and so
// do the build's event log and its file.
import { StringDecoder } from "node:string_decoder";

export const STEP_OUTPUT_BYTES = 1 << 20;
export const BUILD_OUTPUT_BYTES = 8 << 20;
export const TAIL_BYTES = 16 << 10;

type Stream = "stdout" | "stderr";

/** One build's live-output allowance, shared by its steps (keyed by the build's options object). */
const budgets = new WeakMap<object, { left: number }>();

function budgetOf(build: object): { left: number } {
  let b = budgets.get(build);
  if (!b) budgets.set(build, (b = { left: BUILD_OUTPUT_BYTES }));
  return b;
}

export class StepOutput {
  private shown = 0;
  private dropped = 0;
  private readonly tail: Array<{ stream: Stream; data: Buffer }> = [];
  private tailBytes = 0;
  private readonly decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
  private readonly budget: { left: number };

  /** build: the build's options object (one allowance per build); emit: shows text live. */
  constructor(
    build: object,
    private readonly emit: (stream: Stream, text: string) => void,
  ) {
    this.budget = budgetOf(build);
  }

  write(stream: Stream, data: Buffer): void {
    this.keepTail(stream, data);
    const room = Math.min(STEP_OUTPUT_BYTES - this.shown, this.budget.left);
    if (this.dropped === 0 && data.length <= room) {
      this.shown += data.length;
      this.budget.left -= data.length;
      const text = this.decoders[stream].write(data);
      if (text) this.emit(stream, text);
      return;
    }
    this.dropped += data.length;
  }

  /** At the step's end: the marker and the kept tail, if anything was left out. */
  finish(): void {
    if (this.dropped === 0) return;
    const tail = this.tail.reduce((n, c) => n + c.data.length, 0);
    this.emit(
      "stderr",
      `\n[sbx: ${this.dropped} bytes of this step's output were left out (limits: ${STEP_OUTPUT_BYTES} bytes a step, ` +
        `${BUILD_OUTPUT_BYTES} a build); its last ${tail} bytes follow]\n`,
    );
    for (const c of this.tail) this.emit(c.stream, c.data.toString("utf8"));
  }

  /** The last `n` lines of the step's output (for a failed step's error), from the kept tail. */
  lastLines(n: number): string[] {
    const text = Buffer.concat(this.tail.map((c) => c.data)).toString("utf8");
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.slice(-n).map((l) => (l.length > 1024 ? l.slice(-1024) : l));
  }

  private keepTail(stream: Stream, data: Buffer): void {
    // A chunk of the tail's size or more is the whole tail from now on: kept as it is (one chunk
    // held), where a flood's many small chunks are copied so that none holds a bigger buffer.
    const piece = data.length > TAIL_BYTES ? data.subarray(data.length - TAIL_BYTES) : data;
    if (data.length >= TAIL_BYTES) {
      this.tail.length = 0;
      this.tailBytes = 0;
    }
    this.tail.push({ stream, data: data.length >= TAIL_BYTES ? piece : Buffer.from(piece) });
    this.tailBytes += piece.length;
    while (this.tailBytes > TAIL_BYTES) {
      const first = this.tail[0]!;
      const over = this.tailBytes - TAIL_BYTES;
      if (first.data.length <= over) {
        this.tail.shift();
        this.tailBytes -= first.data.length;
      } else {
        first.data = first.data.subarray(over);
        this.tailBytes -= over;
      }
    }
  }
}
