// The child process of control_connection_cut.test.ts (run alone, so a crash shows as its exit
// code): reads the routing map through a proxy while its transaction waits on a lock held here,
// cuts the proxy then, and reads again once the proxy is back. Prints one JSON line per step.
// Usage: bun control_cut_child.ts <database_url> <schema>

import postgres from "postgres";
import { open_control_plane } from "../../cluster/control_plane/connection.ts";
import { read_routing_map } from "../../cluster/control_plane/routing_map.ts";
import { LinkProxy } from "./link_proxy.ts";

const WAIT_POLL_MS = 20;
const WAIT_MS_MAX = 20_000;
/** After the cut, long enough for every write the driver scheduled (setImmediate) to run. */
const SETTLE_MS = 500;

const [database_url, schema] = process.argv.slice(2) as [string, string];
const admin = postgres(database_url, { max: 2, onnotice: () => {} });
const proxy = await LinkProxy.start(Number(new URL(database_url).port));
const proxied_url = new URL(database_url);
proxied_url.port = String(proxy.port);
const plane = open_control_plane({ database_url: proxied_url.toString(), schema });

/** True once a query of the control plane's transaction waits on the lock (the cut meets it). */
async function waiting_on_lock(): Promise<boolean> {
  const rows = await admin`
    select count(*)::int as waiting from pg_stat_activity
    where wait_event_type = 'Lock' and query like '%from group_leases%'`;
  return rows[0]!.waiting > 0;
}

// The lock is held by a transaction left open until `release` is called.
let release!: () => void;
const released = new Promise<void>((resolve) => (release = resolve));
let locked!: () => void;
const lock_taken = new Promise<void>((resolve) => (locked = resolve));
const holder = admin.begin(async (tx) => {
  await tx`lock table ${tx(schema)}.group_leases in access exclusive mode`;
  locked();
  await released;
});
await lock_taken;

const cut_read = read_routing_map(plane);
const deadline_ms = performance.now() + WAIT_MS_MAX;
let waited = false;
while (!(waited = await waiting_on_lock()) && performance.now() < deadline_ms) {
  await Bun.sleep(WAIT_POLL_MS);
}
console.log(JSON.stringify({ step: "waiting_on_lock", waited }));
proxy.go_down();
const cut = await cut_read;
console.log(JSON.stringify({ step: "cut", kind: cut.kind,
  message: cut.kind === "unreachable" ? cut.message : "" }));
await Bun.sleep(SETTLE_MS);

release();
await holder;
proxy.up();
const after = await read_routing_map(plane);
console.log(JSON.stringify({ step: "after",
  kind: after.kind, groups: after.kind === "map" ? after.map.groups.length : 0 }));
await plane.close();
await admin.end({ timeout: 5 });
await proxy.stop();
