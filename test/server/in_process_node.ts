// An in-process node on small limits with its HTTP front door (AUTH=off: these tests are about
// something else; auth is tested in test/auth), for tests that need the node's objects at hand
// (its control block, its metrics) rather than a process.

import { rmSync } from "node:fs";
import { load_config } from "../../config/config.ts";
import { Metrics } from "../../node/metrics.ts";
import { ServiceNode } from "../../node/service_node.ts";
import { single_node_view } from "../../router/leadership.ts";
import { start_http_server } from "../../server/http.ts";
import { temp_dir } from "../../harness/temp_dirs.ts";

export interface InProcessNode {
  node: ServiceNode;
  data_dir: string;
  base_url: string;
  stop(): Promise<void>;
}

/** `groups` groups (GROUP_MAP as given), 64 accounts and a 16-slot ring each. */
export async function start_in_process_node(label: string, groups = 1, group_map = "")
  : Promise<InProcessNode> {
  const data_dir = temp_dir(`balance-${label}`);
  const node = await ServiceNode.start(load_config({ DATA_DIR: data_dir, GROUPS: String(groups),
    GROUP_MAP: group_map, ACCOUNTS_PER_GROUP: "64", HOLDS_PER_GROUP: "16",
    IDEMPOTENCY_ENTRIES_PER_GROUP: "65536", RING_SLOTS: "16",
    JOURNAL_SEGMENT_BYTES: String(1 << 20) }), new Metrics());
  const server = start_http_server(node, { host: "127.0.0.1", port: 0, auth: null,
    cluster: single_node_view("127.0.0.1:1", "127.0.0.1:2", groups, new Map()) });
  return {
    node, data_dir, base_url: `http://127.0.0.1:${server.port}`,
    stop: async () => {
      await node.shutdown();
      server.stop(true);
      rmSync(data_dir, { recursive: true, force: true });
    },
  };
}
