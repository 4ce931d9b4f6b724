// Every fixed limit of the service, in one place, with the relations between them asserted at import.
// Limits an operator may tune are read from the environment in config/config.ts, which validates
// them against the bounds here. Each limit has a test at its edge.

import { assert } from "./assert.ts";

// --- Money -----------------------------------------------------------------------------------------
// Amounts and balances are integers in minor units, held in float64 for speed: exact while within
// the safe-integer range. The engine keeps balance + overdraft_limit <= BALANCE_MINOR_MAX, so
// available = balance - held + overdraft_limit is always exact, and refuses anything that would leave it.
export const BALANCE_MINOR_MAX = Number.MAX_SAFE_INTEGER; // 2^53 - 1
export const AMOUNT_MINOR_MAX = Number.MAX_SAFE_INTEGER;
export const OVERDRAFT_LIMIT_MINOR_MAX = Number.MAX_SAFE_INTEGER;
export const CURRENCY_CODE_MAX = 999; // ISO 4217 numeric codes are 3 digits

// --- Wire ------------------------------------------------------------------------------------------
export const ORDER_SIZE_BYTES = 40; // schema/balance.fbs struct Order
export const RESULT_SIZE_BYTES = 40; // schema/balance.fbs struct Result
export const BATCH_ORDERS_MAX = 128; // orders in one request (clients typically send 20)
export const HTTP_BODY_SIZE_BYTES_MAX = 64 * 1024; // FlatBuffers or JSON body of one request
export const ORDER_FLAG_LINKED = 1; // Order.flags bit 0: linked to the next order
export const RESULT_FLAG_REPLAYED = 1; // Result.flags bit 0
// One FlatBuffers frame (a TCP frame without its length prefix, or an HTTP body). HelloOk announces it.
export const FRAME_SIZE_BYTES_MAX = HTTP_BODY_SIZE_BYTES_MAX;
// A frame holds at least its root offset and its file identifier "BAL1".
export const FRAME_SIZE_BYTES_MIN = 8;
// Error.message is for humans: longer texts are cut, so an error reply stays small and bounded.
export const ERROR_MESSAGE_LENGTH_MAX = 512;

// --- Order ids -------------------------------------------------------------------------------------
// An order id carries its creation time in ms in its high bits: id = time_ms * 2^22 + (22 low bits).
export const ORDER_ID_TIME_SHIFT_BITS = 22;
// An id stamped further ahead of engine time than this is refused (id_invalid). The window's bucket
// ring spans W plus this skew, so memory grows with it: keep it small (clients run NTP). Engine
// time, not the wall clock: after a wall-clock jump ids are judged against engine time
// (docs/architecture.md, "Engine time and wall-clock jumps").
export const ORDER_ID_FUTURE_SKEW_MS_MAX = 5_000;

// --- Engine, per group -----------------------------------------------------------------------------
export const GROUPS_MAX = 1024;
export const ENGINE_WORKERS_MAX = 64;
export const PARTNER_ID_MAX = 0xffff_ffff;
export const HOLD_TIMEOUT_MS_MAX = 30 * 24 * 3600 * 1000; // 30 days
export const IDEMPOTENCY_WINDOW_MS_MIN = 1_000;
export const IDEMPOTENCY_WINDOW_MS_MAX = 24 * 3600 * 1000;
/** The service's window W and its memory budget per group in ids (IDEMPOTENCY_* settings). */
export const IDEMPOTENCY_WINDOW_MS_DEFAULT = 10_000;
export const IDEMPOTENCY_ENTRIES_PER_GROUP_DEFAULT = 1 << 24;
// Engine time advances when a batch enters a group, and at least this often while holds may expire.
export const ENGINE_TICK_MS = 100;
// While running, engine time follows the monotonic clock and converges on the wall clock by at
// most this many ms per second (5%): an NTP step (ntpd steps at 128 ms) is absorbed in ~3 s, and
// a wrong jump of the wall clock moves hold expiries and the idempotency window by at most 5% of
// the time that passes (a 30 s hold expires no more than 1.5 s early). Below 1000: never backwards.
export const ENGINE_TIME_SLEW_MS_PER_S = 50;

// --- Cluster control plane (cluster/control_plane/, docs/cluster.md) -------------------------------
// A lease is renewed for this long from the database's now(); takeovers wait for it to pass there.
export const LEASE_MS_MIN = 100;
export const LEASE_MS_MAX = 60_000;
// LEASE_MS when a cluster node does not set it (cluster/membership/cluster_config.ts).
// A takeover needs the lease expired AND a lease of silence on the replication link (heartbeats
// every third of a lease), so a short lease costs no spurious takeover of a live primary. A
// failover (death to the new primary's first committed reply) takes a lease plus some 300 ms
// (bench:cluster): 1 s keeps it under the 2 s goal, 1.5 s did not at its maximum.
export const LEASE_MS_DEFAULT = 1_000;
// The membership loop heartbeats and renews this many times per lease: a renewal that is lost
// (or a database that answers late) leaves two more chances before the lease runs out.
export const MEMBERSHIP_TICKS_PER_LEASE = 3;
// Copies of each group: the primary and REPLICAS - 1 standbys, each on its own node.
export const REPLICAS_MAX = 5;
// REPLICAS when a cluster node does not set it: a primary and one standby.
export const REPLICAS_DEFAULT = 2;
// Registered nodes the placement spreads groups over.
export const CLUSTER_NODES_MAX = 256;
// A node id and a disk id are [a-z0-9_-], starting with a letter or digit; an address is host:port.
export const NODE_ID_LENGTH_MAX = 63;
export const DISK_ID_LENGTH_MAX = 64;
export const NODE_ADDRESS_LENGTH_MAX = 255;
// The journal's epoch is a u32; the control plane's epoch is the journal's.
export const EPOCH_MAX = 0xffff_ffff;
// A control-plane call that cannot reach PostgreSQL gives up after these and answers
// `unreachable` (never `deposed`): the caller goes on as it was.
export const CONTROL_PLANE_CONNECT_TIMEOUT_S = 2;
export const CONTROL_PLANE_STATEMENT_TIMEOUT_MS = 2_000;
// After failed connections to the control plane, the next attempt waits twice as long each time
// from the first delay, up to the max: a tenth of the default lease, so a node reaches the
// control plane again within a tick of an outage's end, at 10 attempts a second per connection
// (two per node) while it lasts. postgres.js's own default grows to 20 s (3^failures / 100 s):
// after reconcile_faults' 4 s outage, a standby's heartbeat, asked during it, waited 6 s in all
// (traced tick by tick), the standby missed a handover granted to it, and the group went back to
// its old primary.
export const CONTROL_PLANE_RECONNECT_DELAY_FIRST_MS = 10;
export const CONTROL_PLANE_RECONNECT_DELAY_MAX_MS = 100;
// `bun run cluster -- status` asks each node's /metrics for this long, then shows it unreachable,
// and reads at most this much of an answer (a node exports a few lines per group and standby).
export const CLUSTER_STATUS_METRICS_TIMEOUT_MS = 1_000;
export const CLUSTER_STATUS_METRICS_BYTES_MAX = 4 * 1024 * 1024;

// --- SDK routing over a cluster (sdk/routing_transport.ts, docs/sdk.md) ---------------------------
// Orders answered not_primary (or sent to a node that could not be reached) are resent, same ids,
// to the primary of a freshly read map at most this many times per batch; then the answer is
// what the last attempt said. Between attempts the wait doubles from the min up to the max: 8
// attempts wait some 2.1 s in all, longer than a failover takes from the moment the map names
// the new primary to its first answer (its promotion), so a failover costs no outcome unknown.
export const SDK_ROUTING_RESENDS_MAX = 8;
export const SDK_ROUTING_BACKOFF_MS_MIN = 20;
export const SDK_ROUTING_BACKOFF_MS_MAX = 500;
// Seed addresses a client is given (each is tried in turn until one answers the map), and how long
// one node may take to answer the map before the next is asked.
export const SDK_SEEDS_MAX = 64;
export const SDK_MAP_READ_TIMEOUT_MS = 1_000;

// --- Rings -----------------------------------------------------------------------------------------
export const RING_SLOT_HEADER_BYTES = 64;
// A request reaches an engine worker as one slot: its orders for that worker in runs, one run per
// group, each run's entry in a table after the orders' room (common/slots.ts); a run has at least
// one order, so a slot has at most BATCH_ORDERS_MAX runs.
export const RING_RUN_ENTRY_BYTES = 8;
export const RING_REQUEST_SLOT_BYTES =
  RING_SLOT_HEADER_BYTES + BATCH_ORDERS_MAX * (ORDER_SIZE_BYTES + RING_RUN_ENTRY_BYTES);
export const RING_RESULT_SLOT_BYTES =
  RING_SLOT_HEADER_BYTES + BATCH_ORDERS_MAX * (RESULT_SIZE_BYTES + RING_RUN_ENTRY_BYTES);
export const RING_SLOT_COUNT_MIN = 16;
export const RING_SLOT_COUNT_MAX = 1 << 16;
// One partner may occupy at most this share of a ring's slots, so a hot partner cannot starve others.
export const PARTNER_RING_SHARE_DIVISOR = 4;
// Requests the main thread holds at once (in the rings, or answered by an engine and waiting for the
// journal): past this, new requests are busy. Bounds the memory of a node whose journal is slow.
export const REQUESTS_IN_FLIGHT_MAX = 65_536;

// --- Journal ---------------------------------------------------------------------------------------
export const JOURNAL_ENTRY_HEADER_BYTES = 64;
export const JOURNAL_RECORD_BYTES = 80;
// An entry holds one engine batch (its orders plus the hold expiries engine time triggered before
// it), or, from the engine worker's loop, a group's batches of one cycle (engine/journal_output.ts).
export const JOURNAL_ENTRY_RECORDS_MAX = 4096;
export const JOURNAL_SEGMENT_SIZE_BYTES_MIN = 1 << 20;
export const JOURNAL_SEGMENT_SIZE_BYTES_MAX = 1 << 30;
// Every segment is zeroed before use, and each group keeps its next one zeroed ahead: a group
// writes twice the segment size of zeros before its first entries are durable, and a start of four
// groups with 64 MiB segments wrote 512 MiB of zeros in the first seconds of its load, the journal
// worker's largest cost then. 16 MiB (PostgreSQL's WAL segment) writes a quarter of that; a
// rollover (a rename and a directory sync) every second or so per group at full load is cheap
// (docs/performance.md, "The journal's segments: 16 MiB").
export const JOURNAL_SEGMENT_SIZE_BYTES_DEFAULT = 16 * 1024 * 1024;
export const JOURNAL_ENTRY_BYTES_MAX =
  JOURNAL_ENTRY_HEADER_BYTES + JOURNAL_ENTRY_RECORDS_MAX * JOURNAL_RECORD_BYTES;
// One append() call writes at most this much, so it always fits one segment and stays atomic on a
// full disk (all of it is written to the current or the next segment, never split).
export const JOURNAL_APPEND_BYTES_MAX = JOURNAL_SEGMENT_SIZE_BYTES_MIN;
// Recovery reads segments in chunks of this size (no per-entry syscalls); one chunk holds any entry.
export const JOURNAL_READ_CHUNK_BYTES = 4 * 1024 * 1024;
// Snapshots kept per group; older ones are deleted after a new one is durable.
export const SNAPSHOTS_KEPT = 2;

assert(BATCH_ORDERS_MAX >= 20, "clients send batches of 20");
assert(RING_REQUEST_SLOT_BYTES % 8 === 0, "ring slots stay 8-aligned");
assert(RING_RESULT_SLOT_BYTES % 8 === 0, "ring slots stay 8-aligned");
assert(HTTP_BODY_SIZE_BYTES_MAX > BATCH_ORDERS_MAX * ORDER_SIZE_BYTES + 256, "a full batch fits a body");
assert(
  FRAME_SIZE_BYTES_MAX > BATCH_ORDERS_MAX * RESULT_SIZE_BYTES + ERROR_MESSAGE_LENGTH_MAX * 3 + 256,
  "a full batch of results, or an error with its longest message, fits one frame",
);
assert(JOURNAL_RECORD_BYTES >= ORDER_SIZE_BYTES + 40, "a record holds the order and its outcome");
assert(JOURNAL_ENTRY_RECORDS_MAX >= BATCH_ORDERS_MAX * 2, "an entry holds a batch and its expiries");
assert(
  JOURNAL_SEGMENT_SIZE_BYTES_MIN >=
    JOURNAL_ENTRY_HEADER_BYTES + JOURNAL_ENTRY_RECORDS_MAX * JOURNAL_RECORD_BYTES,
  "the largest entry fits one segment",
);
assert(JOURNAL_APPEND_BYTES_MAX >= JOURNAL_ENTRY_BYTES_MAX, "the largest entry fits one append");
assert(JOURNAL_READ_CHUNK_BYTES >= JOURNAL_ENTRY_BYTES_MAX, "the largest entry fits one read chunk");
assert(
  JOURNAL_SEGMENT_SIZE_BYTES_DEFAULT >= JOURNAL_SEGMENT_SIZE_BYTES_MIN &&
    JOURNAL_SEGMENT_SIZE_BYTES_DEFAULT <= JOURNAL_SEGMENT_SIZE_BYTES_MAX,
  "the default segment size is within its bounds",
);

// --- TCP front door (server/tcp/) ------------------------------------------------------------------
// Operator-tunable (config/config.ts): defaults and the bounds they are validated against.
export const TCP_PORT_DEFAULT = 8090;
export const TCP_CONNECTIONS_MAX_DEFAULT = 1024;
export const TCP_CONNECTIONS_MAX_LIMIT = 65_536;
// Unanswered requests per connection; an accepted batch counts until its final BatchResults.
export const TCP_IN_FLIGHT_MAX_DEFAULT = 256;
export const TCP_IN_FLIGHT_MAX_LIMIT = 4096;
export const TCP_IDLE_TIMEOUT_MS_DEFAULT = 60_000;
export const TCP_IDLE_TIMEOUT_MS_MIN = 100;
export const TCP_IDLE_TIMEOUT_MS_MAX = 3600 * 1000;
// Replies queued for one connection before the server stops reading it (until `drain`).
export const TCP_SEND_BUFFER_BYTES_MAX_DEFAULT = 4 * 1024 * 1024;
export const TCP_SEND_BUFFER_BYTES_MAX_MIN = 128 * 1024;
export const TCP_SEND_BUFFER_BYTES_MAX_LIMIT = 256 * 1024 * 1024;
// A frame must be complete this long after its first byte (its length prefix's first byte) came,
// however many bytes trickle in between, so dripping an unfinished frame cannot hold a connection.
// A healthy client on a 20 kbit/s link sends a whole 64 KiB frame in about 26 s.
export const TCP_FRAME_TIMEOUT_MS_DEFAULT = 30_000;
export const TCP_FRAME_TIMEOUT_MS_MIN = 100;
export const TCP_FRAME_TIMEOUT_MS_MAX = 600_000;
// Connections one principal (a partner, or the internal principal) may hold, and connections not
// past Hello yet, so neither one partner nor clients without a token take every slot. Each is at
// most TCP_CONNECTIONS_MAX (its default is lowered to it).
export const TCP_CONNECTIONS_PER_PRINCIPAL_MAX_DEFAULT = 64;
export const TCP_UNAUTHENTICATED_CONNECTIONS_MAX_DEFAULT = 256;
// Fixed: the u32 length before every frame; how often every connection's idle time, token expiry and
// revocation are checked (a revoked token's connection closes within AUTH_REVOCATION_POLL_MS plus
// this); how long a connection closed with an error frame may take to flush it before it is cut.
export const TCP_LENGTH_PREFIX_BYTES = 4;
export const TCP_SESSION_SWEEP_MS = 250;
export const TCP_CLOSE_LINGER_MS = 2_000;
// A Hello's token is verified once; a client that does not send one within this time is closed.
export const TCP_HELLO_TIMEOUT_MS = 10_000;
// Bytes read but not yet parsed while a connection is not read (token being verified, or replies
// over the send cap): what the socket delivered before pause() took effect (Bun reads at most
// 512 KiB at once). A client that pushes past it is closed.
export const TCP_RECEIVE_HELD_BYTES_MAX = 2 * 1024 * 1024;

assert(TCP_IN_FLIGHT_MAX_DEFAULT <= TCP_IN_FLIGHT_MAX_LIMIT, "the default in-flight limit is in bounds");
assert(TCP_CONNECTIONS_MAX_DEFAULT <= TCP_CONNECTIONS_MAX_LIMIT, "the default connection limit is in bounds");
assert(
  TCP_SEND_BUFFER_BYTES_MAX_MIN >= FRAME_SIZE_BYTES_MAX + TCP_LENGTH_PREFIX_BYTES,
  "a connection's send buffer holds at least one frame",
);
assert(
  TCP_SEND_BUFFER_BYTES_MAX_DEFAULT >= TCP_SEND_BUFFER_BYTES_MAX_MIN &&
    TCP_SEND_BUFFER_BYTES_MAX_DEFAULT <= TCP_SEND_BUFFER_BYTES_MAX_LIMIT,
  "the default send buffer cap is in bounds",
);
assert(TCP_SESSION_SWEEP_MS < TCP_IDLE_TIMEOUT_MS_DEFAULT, "idle connections are noticed in time");
assert(
  TCP_FRAME_TIMEOUT_MS_DEFAULT >= TCP_FRAME_TIMEOUT_MS_MIN &&
    TCP_FRAME_TIMEOUT_MS_DEFAULT <= TCP_FRAME_TIMEOUT_MS_MAX,
  "the default frame deadline is in bounds",
);
assert(TCP_SESSION_SWEEP_MS < TCP_FRAME_TIMEOUT_MS_DEFAULT, "late frames are noticed in time");
assert(
  TCP_CONNECTIONS_PER_PRINCIPAL_MAX_DEFAULT < TCP_CONNECTIONS_MAX_DEFAULT &&
    TCP_UNAUTHENTICATED_CONNECTIONS_MAX_DEFAULT < TCP_CONNECTIONS_MAX_DEFAULT,
  "by default neither one principal nor clients without a token take every connection",
);
assert(ENGINE_TIME_SLEW_MS_PER_S > 0 && ENGINE_TIME_SLEW_MS_PER_S < 1000,
  "engine time converges on the wall clock and never runs backwards");
assert(REPLICAS_MAX <= CLUSTER_NODES_MAX, "every replica of a group fits on its own node");
assert(LEASE_MS_MIN < LEASE_MS_MAX, "a lease's bounds are ordered");
assert(CONTROL_PLANE_RECONNECT_DELAY_MAX_MS * MEMBERSHIP_TICKS_PER_LEASE <= LEASE_MS_DEFAULT,
  "a node reconnects to the control plane within a tick of the default lease");
assert(LEASE_MS_MIN <= LEASE_MS_DEFAULT && LEASE_MS_DEFAULT <= LEASE_MS_MAX,
  "the default lease is in bounds");
assert(REPLICAS_DEFAULT >= 1 && REPLICAS_DEFAULT <= REPLICAS_MAX,
  "the default REPLICAS is in bounds");
assert(MEMBERSHIP_TICKS_PER_LEASE >= 2 && LEASE_MS_MIN / MEMBERSHIP_TICKS_PER_LEASE >= 1,
  "a lease is renewed more than once before it runs out, at least a millisecond apart");
assert(SDK_ROUTING_BACKOFF_MS_MIN >= 1 && SDK_ROUTING_BACKOFF_MS_MIN <= SDK_ROUTING_BACKOFF_MS_MAX,
  "the routing backoff starts above zero and below its cap");
