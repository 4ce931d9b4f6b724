// Starting a file's writeback without waiting for it: Linux's sync_file_range(2) with
// SYNC_FILE_RANGE_WRITE, called through bun:ffi (node:fs has no binding for it).
//
// Why: a group commit fdatasyncs one journal file per group, one after another. Each fdatasync
// first writes the file's dirty pages, waits for them, then flushes the disk's cache, so four
// files cost four write-and-wait round trips. Started right after each append, the four files'
// writes go to the disk together, and each fdatasync is left with the wait and the flush
// (measured here on the Xeon's virtio disk, 4 files of 40 KB: 0.41-0.44 ms -> 0.26-0.29 ms per
// commit; docs/performance.md). It is only a hint: it makes nothing durable (no metadata, no cache
// flush), so only fdatasync is ever relied on. A write error in the writeback it starts is kept by
// the kernel for the file and reported by that fdatasync, so its own result can be ignored.

import { dlopen, FFIType } from "bun:ffi";

/** sync_file_range's flag: start writing the range's dirty pages, do not wait. */
const SYNC_FILE_RANGE_WRITE = 2;
const LIBC_LINUX = "libc.so.6";

/** Starts the writeback of a byte range; true when the kernel took the request. */
export type StartWriteback = (fd: number, position_bytes: number, size_bytes: number) => boolean;

/** The hint on Linux with glibc; null elsewhere (every journal call then skips it). */
export const start_writeback: StartWriteback | null = bind_sync_file_range();

function bind_sync_file_range(): StartWriteback | null {
  if (process.platform !== "linux") return null;
  let library;
  try {
    library = dlopen(LIBC_LINUX, {
      sync_file_range: {
        args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.u32],
        returns: FFIType.i32,
      },
    });
  } catch {
    return null; // no glibc (musl): the journal works the same, its commits without the overlap
  }
  const sync_file_range = library.symbols.sync_file_range;
  return (fd, position_bytes, size_bytes) =>
    sync_file_range(fd, position_bytes, size_bytes, SYNC_FILE_RANGE_WRITE) === 0;
}
