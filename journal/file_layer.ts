// The few file operations the journal and snapshots need, behind an interface so that tests can
// swap in a file system that loses power (power_loss_file_layer.ts).

import * as fs from "node:fs";
import { assert } from "../common/assert.ts";
import { flush_disk_of } from "./disk_flush_scope.ts";
import { start_writeback, write_out } from "./sync_file_range.ts";

/** A failed fsync/fdatasync. Never retry: the kernel may have dropped the dirty pages already, so
 * a later fsync could "succeed" without the data. The process must stop and recover from disk. */
export class FsyncFailedError extends Error {
  override name = "FsyncFailedError";
}

/** The disk (or quota) is full. Whatever the failed call was writing counts as not written. */
export class DiskFullError extends Error {
  override name = "DiskFullError";
}

export interface FileLayer {
  /** Opens for reading and writing; creates an empty file when `create` and it does not exist. */
  open(path: string, create: boolean): number;
  /** Writes all of `source` at `position_bytes`, or throws (DiskFullError on ENOSPC). */
  write(fd: number, source: Uint8Array, position_bytes: number): void;
  /** Reads up to target.length bytes; returns how many (fewer only at the end of the file). */
  read(fd: number, target: Uint8Array, position_bytes: number): number;
  /**
   * Starts writing a range of the file to the disk and returns at once. Makes nothing durable
   * (only datasync does): it lets several files' writes reach the disk together before each of
   * their datasyncs waits (sync_file_range.ts). False when it started nothing (no binding on this
   * platform, or the kernel refused): a caller that relies on it then datasyncs instead.
   */
  start_writeback(fd: number, position_bytes: number, size_bytes: number): boolean;
  /**
   * Returns once a written range has reached the disk. Durable only after a datasync of any file
   * on the same flush disk, which flushes the disk's cache (sync_file_range.ts); only for ranges
   * that overwrite blocks already written and synced. Throws FsyncFailedError, never to be retried.
   */
  write_out(fd: number, position_bytes: number, size_bytes: number): void;
  /**
   * The disk whose one flush covers what write_out wrote in `dir` (files of two directories with
   * the same disk share one flush), or null when a file there needs its own datasync
   * (disk_flush_scope.ts).
   */
  flush_disk(dir: string): string | null;
  /** Makes the file's data durable. Throws FsyncFailedError, never to be retried. */
  datasync(fd: number): void;
  size_bytes(fd: number): number;
  truncate(fd: number, size_bytes: number): void;
  close(fd: number): void;
  /** Names (not paths) in a directory. */
  list(dir: string): string[];
  /** Atomic replace within one directory; durable only after fsync_dir. */
  rename(source_path: string, target_path: string): void;
  /** Durable only after fsync_dir. */
  unlink(path: string): void;
  mkdir_p(dir: string): void;
  /** Makes creates, renames and unlinks in `dir` durable. Throws FsyncFailedError. */
  fsync_dir(dir: string): void;
}

function error_code(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code: unknown = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

function is_disk_full(error: unknown): boolean {
  const code = error_code(error);
  return code === "ENOSPC" || code === "EDQUOT";
}

export class NodeFileLayer implements FileLayer {
  // Descriptors whose fsync failed: any later datasync on them throws without trying again.
  private readonly fds_failed = new Set<number>();

  open(path: string, create: boolean): number {
    const flags = fs.constants.O_RDWR | (create ? fs.constants.O_CREAT : 0);
    return fs.openSync(path, flags, 0o644);
  }

  write(fd: number, source: Uint8Array, position_bytes: number): void {
    let written_bytes = 0;
    // writeSync may write fewer bytes than asked; loop until all are written or it fails.
    while (written_bytes < source.length) {
      let count = 0;
      try {
        count = fs.writeSync(fd, source, written_bytes, source.length - written_bytes,
          position_bytes + written_bytes);
      } catch (error) {
        if (is_disk_full(error)) throw new DiskFullError(`write: ${String(error)}`);
        throw error;
      }
      assert(count > 0, "writeSync makes progress");
      written_bytes += count;
    }
  }

  read(fd: number, target: Uint8Array, position_bytes: number): number {
    let read_bytes = 0;
    while (read_bytes < target.length) {
      const count = fs.readSync(fd, target, read_bytes, target.length - read_bytes,
        position_bytes + read_bytes);
      if (count === 0) break; // end of file
      read_bytes += count;
    }
    return read_bytes;
  }

  start_writeback(fd: number, position_bytes: number, size_bytes: number): boolean {
    // A failed writeback is reported by the datasync that follows, whatever this returns.
    return start_writeback?.(fd, position_bytes, size_bytes) ?? false;
  }

  write_out(fd: number, position_bytes: number, size_bytes: number): void {
    if (write_out === null) return this.datasync(fd); // no binding: the file syncs on its own
    if (this.fds_failed.has(fd)) throw new FsyncFailedError("fdatasync failed before on this fd");
    if (!write_out(fd, position_bytes, size_bytes)) {
      this.fds_failed.add(fd);
      throw new FsyncFailedError(`sync_file_range failed on fd ${fd}`);
    }
  }

  flush_disk(dir: string): string | null {
    return write_out === null ? null : flush_disk_of(dir);
  }

  datasync(fd: number): void {
    if (this.fds_failed.has(fd)) throw new FsyncFailedError("fdatasync failed before on this fd");
    try {
      fs.fdatasyncSync(fd);
    } catch (error) {
      this.fds_failed.add(fd);
      throw new FsyncFailedError(`fdatasync: ${String(error)}`);
    }
  }

  size_bytes(fd: number): number {
    return fs.fstatSync(fd).size;
  }

  truncate(fd: number, size_bytes: number): void {
    fs.ftruncateSync(fd, size_bytes);
  }

  close(fd: number): void {
    this.fds_failed.delete(fd);
    fs.closeSync(fd);
  }

  list(dir: string): string[] {
    return fs.readdirSync(dir);
  }

  rename(source_path: string, target_path: string): void {
    try {
      fs.renameSync(source_path, target_path);
    } catch (error) {
      if (is_disk_full(error)) throw new DiskFullError(`rename: ${String(error)}`);
      throw error;
    }
  }

  unlink(path: string): void {
    fs.unlinkSync(path);
  }

  mkdir_p(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
  }

  fsync_dir(dir: string): void {
    const fd = fs.openSync(dir, fs.constants.O_RDONLY);
    try {
      fs.fsyncSync(fd);
    } catch (error) {
      throw new FsyncFailedError(`fsync of directory ${dir}: ${String(error)}`);
    } finally {
      fs.closeSync(fd);
    }
  }
}
