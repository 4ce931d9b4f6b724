// Builds journal entries with random bodies for tests.

import type { Prng } from "../../common/prng.ts";
import { entry_size_bytes, write_entry_header } from "../../schema/journal_entry_layout.ts";
import type { JournalWriter } from "../../journal/journal_writer.ts";

export function make_entry(
  prng: Prng,
  first_sequence: number,
  record_count: number,
  group = 7,
): Uint8Array {
  const bytes = new Uint8Array(entry_size_bytes(record_count));
  fill_fast(prng, bytes.subarray(64));
  write_entry_header(new DataView(bytes.buffer), 0, {
    record_count,
    group,
    epoch: 3,
    first_sequence,
    engine_time_ms: 1_700_000_000_000 + first_sequence,
  });
  return bytes;
}

/** Entries back to back in one buffer, as the engine hands them to append(). */
export function concat(parts: Uint8Array[]): Uint8Array {
  const total_bytes = parts.reduce((sum, part) => sum + part.length, 0);
  const bytes = new Uint8Array(total_bytes);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

/**
 * Appends `parts` in one write, as the journal loop does, and copies the written bytes back into
 * them: the writer stamps each header's synced mark in place, and the model keeps what was written.
 */
export function append_entries(writer: JournalWriter, parts: Uint8Array[]): void {
  const bytes = concat(parts);
  try {
    writer.append(bytes);
  } finally { // a crash inside append may leave stamped bytes on the disk
    let offset = 0;
    for (const part of parts) {
      part.set(bytes.subarray(offset, offset + part.length));
      offset += part.length;
    }
  }
}

export function equal_bytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/** Random bytes, four per PRNG step (bodies are up to 320 KiB). */
export function fill_fast(prng: Prng, target: Uint8Array): void {
  const words_count = target.length >>> 2;
  const words = new Uint32Array(target.buffer, target.byteOffset, words_count);
  for (let index = 0; index < words_count; index++) words[index] = prng.next_u32();
  for (let index = words_count << 2; index < target.length; index++) {
    target[index] = prng.next_u32() & 0xff;
  }
}
