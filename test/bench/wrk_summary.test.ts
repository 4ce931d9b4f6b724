// make benchmark's wrk rows read bench/wrk/debits.lua's summary line out of wrk's output
// (bench/wrk_summary.ts). The outputs are wrk 4.1.0's, as it printed them here; no timing.

import { describe, expect, test } from "bun:test";
import { wrk_summary } from "../../bench/wrk_summary.ts";

const CLEAN = `Running 10s test @ http://127.0.0.1:24711/v1/batches
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.91ms    2.08ms  21.69ms   91.48%
    Req/Sec    11.67k     2.19k   16.46k    66.50%
  232622 requests in 10.02s, 306.44MB read
Requests/sec:  23209.75
Transfer/sec:     30.57MB
orders/s: 232098; non-2xx replies: 0; p50 2.29 ms, p99 13.34 ms
`;

describe("wrk_summary", () => {
  test("reads debits.lua's line: orders/s, non-2xx replies, p50 and p99", () => {
    expect(wrk_summary(CLEAN)).toEqual({ orders_per_sec: 232_098, non_2xx: 0, p50_ms: 2.29,
      p99_ms: 13.34, socket_errors: null });
  });

  test("refused replies and socket errors are reported, not hidden", () => {
    const output = CLEAN
      .replace("Requests/sec:", "  Socket errors: connect 0, read 3, write 0, timeout 12\n" +
        "  Non-2xx or 3xx responses: 41\nRequests/sec:")
      .replace("non-2xx replies: 0", "non-2xx replies: 41");
    expect(wrk_summary(output)).toEqual({ orders_per_sec: 232_098, non_2xx: 41, p50_ms: 2.29,
      p99_ms: 13.34, socket_errors: "Socket errors: connect 0, read 3, write 0, timeout 12" });
  });

  test("an output without debits.lua's line (another script, a failed run) has no summary", () => {
    expect(wrk_summary(CLEAN.replace(/^orders\/s.*$/m, ""))).toBeNull();
    expect(wrk_summary("unable to connect to 127.0.0.1:24711 Connection refused\n")).toBeNull();
    expect(wrk_summary(CLEAN.replace("p99 13.34 ms", "p99 nan ms"))).toBeNull();
  });
});
