// What a running service reports on /metrics that tests and benchmarks wait on.

import { get } from "./http_client.ts";

/** The service's durable sequence per group (/metrics balance_durable_sequence). */
export async function durable_sequences(base_url: string, groups: number): Promise<number[]> {
  const reply = await get(base_url, "/metrics");
  const out: number[] = new Array(groups).fill(-1);
  for (const line of reply.text.split("\n")) {
    const match = /^balance_durable_sequence\{group="(\d+)"\} (\d+)$/.exec(line);
    if (match !== null) out[Number(match[1])] = Number(match[2]);
  }
  if (out.includes(-1)) {
    throw new Error(`/metrics lacks a group's durable sequence:\n${reply.text}`);
  }
  return out;
}
