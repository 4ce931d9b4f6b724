// The live progress line on stderr, redrawn in place: a bar (of the requests, or of the duration),
// requests done, the last interval's orders/s, elapsed time. Drawn only on a terminal.

const BAR_WIDTH = 40;

export class Progress {
  private drawn = false;

  constructor(private readonly enabled: boolean, private readonly requests_total: number,
    private readonly duration_ms: number) {}

  draw(requests_done: number, elapsed_ms: number, orders_per_s: number): void {
    if (!this.enabled) return;
    const fraction = Number.isFinite(this.requests_total)
      ? requests_done / this.requests_total : elapsed_ms / this.duration_ms;
    const clamped = Math.min(1, Math.max(0, fraction));
    const filled = Math.round(clamped * BAR_WIDTH);
    const bar = "=".repeat(Math.max(0, filled - 1)) + (filled > 0 ? ">" : "") +
      " ".repeat(BAR_WIDTH - filled);
    const total = Number.isFinite(this.requests_total) ? ` / ${group(this.requests_total)}` : "";
    const line = ` ${group(requests_done)}${total} [${bar}] ${(clamped * 100).toFixed(2)}% ` +
      `${group(Math.round(orders_per_s))} orders/s ${format_elapsed(elapsed_ms)}`;
    process.stderr.write(`\r${line}\x1b[K`);
    this.drawn = true;
  }

  end(): void {
    if (this.drawn) process.stderr.write("\n");
    this.drawn = false;
  }
}

export function group(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

export function format_elapsed(elapsed_ms: number): string {
  const total_s = Math.floor(elapsed_ms / 1000);
  const minutes = Math.floor(total_s / 60);
  const seconds = total_s % 60;
  return minutes > 0 ? `${minutes}m${String(seconds).padStart(2, "0")}s` : `${seconds}s`;
}
