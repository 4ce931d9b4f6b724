// An in-memory FileLayer that can lose power, for tests of everything that must survive a crash.
//
// Model (deliberately harsher than most disks, so code that passes here does not rely on luck):
// - A file's data is durable only after datasync. Until then every write is pending, and at a
//   crash EACH pending write independently is lost, kept whole, or kept as a torn prefix that may
//   be followed by garbage (a sector written half-way). Pending writes may thus survive out of
//   order, as with a disk's write cache.
// - Creates, renames and unlinks are durable only after fsync_dir of their directory; at a crash
//   a directory reverts to its last synced listing (a file whose name is lost is lost).
// - Directories made by mkdir_p are durable at once (the service makes them at install time).
// - write_out sends a file's pending writes within a range to the disk's cache, not its media:
//   they stay as fragile as pending ones until a datasync of ANY file, which flushes that cache
//   (one simulated disk). Only writes over bytes already durable go (in place, no metadata);
//   the others, and truncates, wait for their own file's datasync.
// - A failed datasync drops the file's pending writes for good, as Linux may (the page cache marks
//   them clean): this is why a failed fsync must never be retried.
// Deterministic: randomness only comes from the Prng passed to crash().

import * as path from "node:path";
import { assert } from "../common/assert.ts";
import type { Prng } from "../common/prng.ts";
import { DiskFullError, FsyncFailedError, type FileLayer } from "./file_layer.ts";

/** Thrown by every call once the armed crash point is reached, until crash() is called. */
export class SimulatedCrashError extends Error {
  override name = "SimulatedCrashError";
}

class Bytes {
  data = new Uint8Array(0);
  size_bytes = 0;

  write(position_bytes: number, source: Uint8Array): void {
    const end = position_bytes + source.length;
    if (end > this.data.length) {
      const grown = new Uint8Array(Math.max(end, this.data.length * 2));
      grown.set(this.data.subarray(0, this.size_bytes));
      this.data = grown;
    }
    // A write past the end leaves a hole, which reads as zeros.
    if (position_bytes > this.size_bytes) this.data.fill(0, this.size_bytes, position_bytes);
    this.data.set(source, position_bytes);
    this.size_bytes = Math.max(this.size_bytes, end);
  }

  truncate(size_bytes: number): void {
    if (size_bytes > this.size_bytes) {
      this.write(this.size_bytes, new Uint8Array(size_bytes - this.size_bytes));
    }
    this.size_bytes = size_bytes;
  }

  clone(): Bytes {
    const copy = new Bytes();
    copy.data = this.data.slice(0, this.size_bytes);
    copy.size_bytes = this.size_bytes;
    return copy;
  }
}

type PendingOperation =
  | { kind: "write"; position_bytes: number; bytes: Uint8Array }
  | { kind: "truncate"; size_bytes: number };

type PendingWrite = PendingOperation & { kind: "write" };

class Inode {
  current = new Bytes(); // what reads see (the page cache)
  durable = new Bytes(); // what survives a crash
  /** Written out (write_out): in the disk's cache, durable at the next flush. */
  written_out: PendingOperation[] = [];
  pending: PendingOperation[] = [];
}

interface Directory {
  current: Map<string, Inode>;
  durable: Map<string, Inode>;
}

export class PowerLossFileLayer implements FileLayer {
  private readonly directories = new Map<string, Directory>();
  private readonly fds = new Map<number, Inode>();
  private fd_next = 3;
  private operations_until_crash: number | null = null;
  private crashed = false;
  private free_bytes: number | null = null;
  private copy_on_write = false;
  private fsync_fail_next = false;
  /** Files whose written-out writes wait in the disk's cache for the next flush. */
  private readonly written_out_inodes = new Set<Inode>();
  private shared_flush = true;
  /** Counts mutating operations, to choose crash points. */
  operation_count = 0;

  constructor() {
    this.directories.set("/", { current: new Map(), durable: new Map() });
  }

  /** Arms a crash: the `count`-th mutating operation from now throws SimulatedCrashError. */
  crash_after_operations(count: number | null): void {
    assert(count === null || (Number.isInteger(count) && count >= 1), "count >= 1");
    this.operations_until_crash = count;
  }

  /**
   * ENOSPC once `free_bytes` more bytes are allocated (null: unlimited). Normally only growing a
   * file allocates; with `copy_on_write` every written byte does (as on btrfs or ZFS).
   */
  set_free_bytes(free_bytes: number | null, copy_on_write = false): void {
    this.free_bytes = free_bytes;
    this.copy_on_write = copy_on_write;
  }

  /** Whether flush_disk names the simulated disk (true) or says every file syncs alone. */
  set_shared_flush(shared: boolean): void {
    this.shared_flush = shared;
  }

  /** The next datasync, write_out or fsync_dir fails. */
  fail_next_fsync(): void {
    this.fsync_fail_next = true;
  }

  /** Power loss: keep what is durable, plus a random part of what is pending. */
  crash(prng: Prng): void {
    const inodes = new Set<Inode>();
    for (const directory of this.directories.values()) {
      for (const inode of directory.durable.values()) inodes.add(inode);
      directory.current = new Map(directory.durable);
    }
    for (const inode of inodes) crash_inode(inode, prng);
    this.written_out_inodes.clear();
    this.fds.clear();
    this.crashed = false;
    this.operations_until_crash = null;
    this.fsync_fail_next = false;
  }

  open(file_path: string, create: boolean): number {
    this.check_alive();
    const { directory, name } = this.locate(file_path);
    let inode = directory.current.get(name);
    if (inode === undefined) {
      if (!create) throw new Error(`ENOENT: ${file_path}`);
      this.count_operation();
      inode = new Inode();
      directory.current.set(name, inode);
    }
    const fd = this.fd_next++;
    this.fds.set(fd, inode);
    return fd;
  }

  write(fd: number, source: Uint8Array, position_bytes: number): void {
    this.count_operation();
    const inode = this.inode_of(fd);
    assert(Number.isSafeInteger(position_bytes) && position_bytes >= 0, "position >= 0");
    const growth_bytes = Math.max(0, position_bytes + source.length - inode.current.size_bytes);
    const charge_bytes = this.copy_on_write ? source.length : growth_bytes;
    if (this.free_bytes !== null && charge_bytes > this.free_bytes) {
      // Part of the write may land before the disk fills: it is garbage the caller must not trust.
      const partial_bytes = Math.max(0, source.length - (charge_bytes - this.free_bytes));
      this.apply_write(inode, position_bytes, source.subarray(0, partial_bytes));
      this.free_bytes = 0;
      throw new DiskFullError("ENOSPC (simulated)");
    }
    if (this.free_bytes !== null) this.free_bytes -= charge_bytes;
    this.apply_write(inode, position_bytes, source);
  }

  read(fd: number, target: Uint8Array, position_bytes: number): number {
    this.check_alive();
    const bytes = this.inode_of(fd).current;
    const count = Math.max(0, Math.min(target.length, bytes.size_bytes - position_bytes));
    target.set(bytes.data.subarray(position_bytes, position_bytes + count));
    return count;
  }

  /** A hint only: what it starts writing stays pending, lost in a crash, until datasync. */
  start_writeback(fd: number, _position_bytes: number, _size_bytes: number): boolean {
    this.check_alive();
    this.inode_of(fd); // a closed or unknown fd is a caller's bug here too
    return true;
  }

  write_out(fd: number, position_bytes: number, size_bytes: number): void {
    this.count_operation();
    const inode = this.inode_of(fd);
    if (this.fsync_fail_next) {
      this.fsync_fail_next = false;
      inode.pending = [];
      throw new FsyncFailedError("sync_file_range: EIO (simulated)");
    }
    const end = position_bytes + size_bytes;
    const in_place = (operation: PendingOperation): operation is PendingWrite =>
      operation.kind === "write" && operation.position_bytes >= position_bytes &&
      operation.position_bytes + operation.bytes.length <= Math.min(end, inode.durable.size_bytes);
    const going = inode.pending.filter(in_place);
    const staying = inode.pending.filter((operation) => !in_place(operation));
    // Applied at the flush before what stays pending: they must not overlap (the journal's never).
    for (const operation of going) {
      assert(staying.every((other) => !overlaps(operation, other)),
        "a written-out write overlaps one still pending");
    }
    inode.written_out.push(...going);
    inode.pending = staying;
    if (going.length > 0) this.written_out_inodes.add(inode);
  }

  flush_disk(_dir: string): string | null {
    return this.shared_flush ? "simulated-disk" : null;
  }

  datasync(fd: number): void {
    this.count_operation();
    const inode = this.inode_of(fd);
    if (this.fsync_fail_next) {
      this.fsync_fail_next = false;
      inode.pending = []; // the kernel forgot them: they will never be durable
      throw new FsyncFailedError("fdatasync: EIO (simulated)");
    }
    // The disk's cache flush: every file's written-out writes, then this file's own.
    for (const written of this.written_out_inodes) {
      for (const operation of written.written_out) apply_operation(written.durable, operation);
      written.written_out = [];
    }
    this.written_out_inodes.clear();
    for (const operation of inode.pending) apply_operation(inode.durable, operation);
    inode.pending = [];
  }

  size_bytes(fd: number): number {
    this.check_alive();
    return this.inode_of(fd).current.size_bytes;
  }

  truncate(fd: number, size_bytes: number): void {
    this.count_operation();
    const inode = this.inode_of(fd);
    inode.current.truncate(size_bytes);
    inode.pending.push({ kind: "truncate", size_bytes });
  }

  close(fd: number): void {
    assert(this.fds.has(fd) || this.crashed, "close of an open fd");
    this.fds.delete(fd);
  }

  list(dir: string): string[] {
    this.check_alive();
    return [...this.directory_of(dir).current.keys()];
  }

  rename(source_path: string, target_path: string): void {
    this.count_operation();
    const source = this.locate(source_path);
    const target = this.locate(target_path);
    assert(source.directory === target.directory, "rename stays within one directory");
    const inode = source.directory.current.get(source.name);
    if (inode === undefined) throw new Error(`ENOENT: ${source_path}`);
    source.directory.current.delete(source.name);
    target.directory.current.set(target.name, inode);
  }

  unlink(file_path: string): void {
    this.count_operation();
    const { directory, name } = this.locate(file_path);
    const inode = directory.current.get(name);
    if (inode === undefined) throw new Error(`ENOENT: ${file_path}`);
    directory.current.delete(name);
    if (this.free_bytes !== null) this.free_bytes += inode.current.size_bytes;
  }

  mkdir_p(dir: string): void {
    this.check_alive();
    const normal = path.posix.resolve("/", dir);
    if (this.directories.has(normal)) return;
    this.mkdir_p(path.posix.dirname(normal));
    this.directories.set(normal, { current: new Map(), durable: new Map() });
  }

  fsync_dir(dir: string): void {
    this.count_operation();
    const directory = this.directory_of(dir);
    if (this.fsync_fail_next) {
      this.fsync_fail_next = false;
      throw new FsyncFailedError("fsync of directory: EIO (simulated)");
    }
    directory.durable = new Map(directory.current);
  }

  private apply_write(inode: Inode, position_bytes: number, source: Uint8Array): void {
    inode.current.write(position_bytes, source);
    inode.pending.push({ kind: "write", position_bytes, bytes: source.slice() });
  }

  private check_alive(): void {
    if (this.crashed) throw new SimulatedCrashError("the machine is off");
  }

  private count_operation(): void {
    this.check_alive();
    this.operation_count++;
    if (this.operations_until_crash === null) return;
    this.operations_until_crash--;
    if (this.operations_until_crash > 0) return;
    this.crashed = true;
    throw new SimulatedCrashError("power lost (simulated)");
  }

  private inode_of(fd: number): Inode {
    const inode = this.fds.get(fd);
    assert(inode !== undefined, `fd ${fd} is open`);
    return inode;
  }

  private directory_of(dir: string): Directory {
    const directory = this.directories.get(path.posix.resolve("/", dir));
    if (directory === undefined) throw new Error(`ENOENT: directory ${dir}`);
    return directory;
  }

  private locate(file_path: string): { directory: Directory; name: string } {
    const normal = path.posix.resolve("/", file_path);
    const directory = this.directory_of(path.posix.dirname(normal));
    return { directory, name: path.posix.basename(normal) };
  }
}

function apply_operation(bytes: Bytes, operation: PendingOperation): void {
  if (operation.kind === "write") {
    bytes.write(operation.position_bytes, operation.bytes);
  } else {
    bytes.truncate(operation.size_bytes);
  }
}

/** Whether `other` touches bytes of `write` (a truncate: cuts below its end). */
function overlaps(write: PendingWrite, other: PendingOperation): boolean {
  const end = write.position_bytes + write.bytes.length;
  if (other.kind === "truncate") return other.size_bytes < end;
  return write.position_bytes < other.position_bytes + other.bytes.length &&
    other.position_bytes < end;
}

function crash_inode(inode: Inode, prng: Prng): void {
  const survived = inode.durable.clone();
  for (const operation of [...inode.written_out, ...inode.pending]) {
    const fate = prng.int_below(3);
    if (fate === 0) continue; // lost
    if (fate === 1 || operation.kind === "truncate") {
      apply_operation(survived, operation);
      continue;
    }
    // Torn: a prefix, then maybe garbage in part of the rest.
    const prefix_bytes = prng.int_below(operation.bytes.length + 1);
    survived.write(operation.position_bytes, operation.bytes.subarray(0, prefix_bytes));
    if (prefix_bytes < operation.bytes.length && prng.chance(0.5)) {
      const garbage = new Uint8Array(prng.int_below(operation.bytes.length - prefix_bytes) + 1);
      prng.fill(garbage);
      survived.write(operation.position_bytes + prefix_bytes, garbage);
    }
  }
  inode.durable = survived;
  inode.current = survived.clone();
  inode.written_out = [];
  inode.pending = [];
}
