// The replication link's limits (docs/cluster.md, "Replication data path"), with their relations
// asserted at import: every buffer of the link is sized from these, once, at start.

import { assert } from "../../common/assert.ts";
import {
  JOURNAL_APPEND_BYTES_MAX, JOURNAL_ENTRY_BYTES_MAX, JOURNAL_ENTRY_HEADER_BYTES,
} from "../../common/constants.ts";
import { SNAPSHOT_FOOTER_BYTES, SNAPSHOT_HEADER_BYTES } from "../../journal/snapshot_file.ts";

export const REPLICATION_PROTOCOL_VERSION = 1;
export const REPLICATION_FRAME_HEADER_BYTES = 48;
/** An entries frame is at most one standby append (one fsync batch of the primary's group). */
export const REPLICATION_ENTRIES_BODY_BYTES_MAX = JOURNAL_APPEND_BYTES_MAX;
export const REPLICATION_FRAME_BODY_BYTES_MAX = REPLICATION_ENTRIES_BODY_BYTES_MAX;
export const REPLICATION_FRAME_BYTES_MAX =
  REPLICATION_FRAME_HEADER_BYTES + REPLICATION_FRAME_BODY_BYTES_MAX;
/**
 * A snapshot sent to a standby the primary's journal no longer reaches: its whole file (header,
 * body, footer), held in memory once on each side while it crosses. A larger one is not sent
 * (`catch_up_unavailable`); the defaults' fullest group (ACCOUNTS_PER_GROUP, HOLDS_PER_GROUP,
 * IDEMPOTENCY_ENTRIES_PER_GROUP) snapshots to about 270 MiB.
 */
export const REPLICATION_SNAPSHOT_BYTES_MAX = 1 << 30;
export const REPLICATION_SNAPSHOT_BYTES_MIN = SNAPSHOT_HEADER_BYTES + SNAPSHOT_FOOTER_BYTES;
/** One snapshot frame's body at most: the file crosses in chunks of this as the socket drains. */
export const REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX = REPLICATION_FRAME_BODY_BYTES_MAX;
/** A receive buffer holds one whole frame of the largest size and the start of the next. */
export const REPLICATION_RECEIVE_BUFFER_BYTES = 2 * REPLICATION_FRAME_BYTES_MAX;
/** Per standby: past it the sender stops buffering live entries and reads its journal instead. */
export const REPLICATION_SEND_BUFFER_BYTES_DEFAULT = 8 * 1024 * 1024;
export const REPLICATION_SEND_BUFFER_BYTES_MIN = REPLICATION_FRAME_BYTES_MAX;
export const REPLICATION_SEND_BUFFER_BYTES_MAX = 256 * 1024 * 1024;
export const REPLICATION_NONCE_BYTES = 32;
export const REPLICATION_MAC_BYTES = 32; // HMAC-SHA256
export const REPLICATION_KEY_BYTES_MIN = 32;
export const REPLICATION_KEY_BYTES_MAX = 1024;
export const REPLICATION_ERROR_MESSAGE_BYTES_MAX = 512;
/** Links one standby listener accepts at once (handshaking or streaming): default and limit. */
export const REPLICATION_LINKS_MAX = 256;
/** A link that has not finished its handshake by then is closed. */
export const REPLICATION_HANDSHAKE_TIMEOUT_MS_DEFAULT = 5_000;
export const REPLICATION_HANDSHAKE_TIMEOUT_MS_MIN = 10;
export const REPLICATION_HANDSHAKE_TIMEOUT_MS_MAX = 600_000;
/** A sender whose link closed connects again after this pause. */
export const REPLICATION_RECONNECT_DELAY_MS_DEFAULT = 200;
export const REPLICATION_RECONNECT_DELAY_MS_MIN = 10;
export const REPLICATION_RECONNECT_DELAY_MS_MAX = 60_000;

assert(REPLICATION_FRAME_HEADER_BYTES % 16 === 0, "frame headers keep entry bodies aligned");
assert(REPLICATION_ENTRIES_BODY_BYTES_MAX >= JOURNAL_ENTRY_BYTES_MAX,
  "the largest journal entry fits one frame");
assert(REPLICATION_ENTRIES_BODY_BYTES_MAX >= JOURNAL_ENTRY_HEADER_BYTES, "an entry fits");
assert(REPLICATION_SEND_BUFFER_BYTES_MIN >= REPLICATION_FRAME_BYTES_MAX,
  "a send buffer holds the largest frame");
assert(REPLICATION_SEND_BUFFER_BYTES_DEFAULT >= REPLICATION_SEND_BUFFER_BYTES_MIN &&
  REPLICATION_SEND_BUFFER_BYTES_DEFAULT <= REPLICATION_SEND_BUFFER_BYTES_MAX, "default in range");
assert(REPLICATION_SNAPSHOT_BYTES_MAX <= Number.MAX_SAFE_INTEGER &&
  REPLICATION_SNAPSHOT_BYTES_MIN < REPLICATION_SNAPSHOT_BYTES_MAX, "snapshot bounds ordered");
assert(REPLICATION_SNAPSHOT_CHUNK_BYTES_MAX <= REPLICATION_FRAME_BODY_BYTES_MAX,
  "a chunk fits one frame");
assert(REPLICATION_ERROR_MESSAGE_BYTES_MAX <= REPLICATION_FRAME_BODY_BYTES_MAX, "errors fit");
assert(REPLICATION_KEY_BYTES_MIN >= REPLICATION_MAC_BYTES, "a key as long as the MAC at least");
assert(REPLICATION_HANDSHAKE_TIMEOUT_MS_DEFAULT >= REPLICATION_HANDSHAKE_TIMEOUT_MS_MIN &&
  REPLICATION_HANDSHAKE_TIMEOUT_MS_DEFAULT <= REPLICATION_HANDSHAKE_TIMEOUT_MS_MAX,
"handshake timeout default in range");
