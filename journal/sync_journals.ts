// Makes several groups' appended entries durable with as few flushes of each disk's cache as it
// takes: the group commit of a node's journal worker (journal_loop.ts) and a standby's acks of
// the links that wrote in one event-loop turn (cluster/replication/standby_server.ts).
//
// Each fdatasync ends with a flush of the disk's cache, which makes durable every write the disk
// completed before it, whichever file it was for. So where a flush covers them (a file system that
// overwrites in place: disk_flush_scope.ts), every journal but one on a disk is only written out
// (sync_file_range: its pages reach the disk), then the last one's fdatasync flushes once for all.
// Only after that flush does any of them count as durable. Elsewhere each journal has its own
// fdatasync. A failure of either call throws FsyncFailedError: fatal, for the caller to handle.

import type { JournalWriter } from "./journal_writer.ts";

/**
 * Syncs every writer with entries not yet durable; returns those groups and their durable
 * sequences (a writer with nothing to sync is not in it).
 */
export function sync_journals(writers: Iterable<readonly [number, JournalWriter]>)
  : Map<number, number> {
  const advanced = new Map<number, number>();
  const by_disk = new Map<string, [number, JournalWriter][]>(); // per flush disk, its journals
  for (const [group, writer] of writers) {
    if (writer.last_sequence === writer.synced_sequence) continue;
    if (writer.flush_disk === null) {
      advanced.set(group, writer.sync());
      continue;
    }
    let written = by_disk.get(writer.flush_disk);
    if (written === undefined) by_disk.set(writer.flush_disk, written = []);
    written.push([group, writer]);
  }
  for (const written of by_disk.values()) {
    const [flushing_group, flushing] = written.pop()!;
    for (const [, writer] of written) writer.write_out();
    advanced.set(flushing_group, flushing.sync());
    for (const [group, writer] of written) advanced.set(group, writer.mark_flushed());
  }
  return advanced;
}
