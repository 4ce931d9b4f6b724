// What `make benchmark` reads from a wrk run of bench/wrk/debits.lua: the script's own summary
// line (its done(): orders/s, non-2xx replies, p50 and p99) and wrk's socket-error line, if any.

export interface WrkSummary {
  orders_per_sec: number;
  non_2xx: number;
  p50_ms: number;
  p99_ms: number;
  /** wrk's "Socket errors: connect N, read N, write N, timeout N", or null when it printed none. */
  socket_errors: string | null;
}

const SUMMARY_LINE =
  /^orders\/s: (\d+); non-2xx replies: (\d+); p50 (\d+\.\d+) ms, p99 (\d+\.\d+) ms$/m;
const SOCKET_ERRORS_LINE = /^\s*(Socket errors: .*)$/m;

/** The summary of wrk's output, or null when debits.lua's line is not in it. */
export function wrk_summary(output: string): WrkSummary | null {
  const line = SUMMARY_LINE.exec(output);
  if (line === null) return null;
  return {
    orders_per_sec: Number(line[1]),
    non_2xx: Number(line[2]),
    p50_ms: Number(line[3]),
    p99_ms: Number(line[4]),
    socket_errors: SOCKET_ERRORS_LINE.exec(output)?.[1] ?? null,
  };
}
