// Linux's sync_file_range(2), called through bun:ffi (node:fs has no binding for it), in its two
// uses by the group commit (journal_loop.ts). Neither makes anything durable by itself: it moves a
// file's written range to the disk, not the disk's cache to its media, and no metadata.
//
// - start_writeback (SYNC_FILE_RANGE_WRITE): start writing the range and return at once. Called
//   right after each group's append, the groups' files go to the disk together instead of one
//   fdatasync after another each writing its own (measured here on the Xeon's virtio disk, 4 files
//   of 40 KB: 0.41-0.44 ms -> 0.26-0.29 ms per commit; docs/performance.md). A write error in the
//   writeback it starts is kept by the kernel for the file and reported by the wait that follows,
//   so its own result can be ignored.
// - write_out (WAIT_BEFORE | WRITE | WAIT_AFTER): return once every page of the range has reached
//   the disk, reporting a writeback error as fdatasync would (the kernel's per-file error cursor).
//   Followed by one fdatasync of another file of the same disk, whose cache flush then covers it,
//   a commit of four groups flushes the disk once instead of four times (disk_flush_scope.ts says
//   when that holds).

import { dlopen, FFIType } from "bun:ffi";

const SYNC_FILE_RANGE_WAIT_BEFORE = 1;
const SYNC_FILE_RANGE_WRITE = 2;
const SYNC_FILE_RANGE_WAIT_AFTER = 4;
const LIBC_LINUX = "libc.so.6";

/** Applies sync_file_range to a byte range; true when the kernel reported success. */
export type SyncFileRange = (fd: number, position_bytes: number, size_bytes: number) => boolean;

type Binding = (fd: number, position_bytes: number, size_bytes: number, flags: number) => number;

const binding: Binding | null = bind_sync_file_range();

/** Starts the range's writeback; null off Linux with glibc (every journal call then skips it). */
export const start_writeback: SyncFileRange | null = binding === null ? null
  : (fd, position_bytes, size_bytes) =>
    binding(fd, position_bytes, size_bytes, SYNC_FILE_RANGE_WRITE) === 0;

/** Writes the range out and waits for it; null off Linux with glibc (the journal then fdatasyncs
 * every file). */
export const write_out: SyncFileRange | null = binding === null ? null
  : (fd, position_bytes, size_bytes) => binding(fd, position_bytes, size_bytes,
    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) === 0;

function bind_sync_file_range(): Binding | null {
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
  return library.symbols.sync_file_range;
}
