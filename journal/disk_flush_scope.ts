// Whether one fdatasync's disk-cache flush also makes durable what write_out (sync_file_range.ts)
// wrote of other files, so that a group commit can flush the disk once for every group.
//
// That takes two things. The files must be on one disk: a flush reaches the device of the file
// synced. And writing a file's range out must be all its data needs: the journal only overwrites
// blocks it preallocated, wrote and synced before (journal_writer.ts), so on a file system that
// writes data in place no metadata is needed to read it back. ext4 does, unless it journals data
// (data=journal: the data then waits for the file system's own journal commit). Copy-on-write
// file systems (btrfs, ZFS, bcachefs) write every overwrite elsewhere and need their metadata
// committed; XFS does too for extents shared by a reflink copy, which a data directory restored
// with `cp --reflink` would have; network and memory file systems have no such flush. Those all
// get one fdatasync per file, as before.
//
// A disk is named by its file system's device (major:minor from stat), looked up in
// /proc/self/mountinfo for its type and options.

import * as fs from "node:fs";

const MOUNTINFO_PATH = "/proc/self/mountinfo";
/** File systems whose overwrites of written blocks need no metadata to be read back. */
const IN_PLACE_FILE_SYSTEMS = new Set(["ext4", "ext3"]);
/** ext4's mode that sends data through its journal: a flush alone does not make it durable. */
const JOURNALED_DATA_OPTION = "data=journal";

/** A disk whose one flush covers in-place overwrites in `dir`, or null when none does. */
export function flush_disk_of(dir: string): string | null {
  if (process.platform !== "linux") return null;
  let mountinfo: string;
  try {
    mountinfo = fs.readFileSync(MOUNTINFO_PATH, "utf8");
  } catch {
    return null;
  }
  const dev = fs.statSync(dir).dev;
  return flush_disk_in(mountinfo, device_major(dev), device_minor(dev));
}

/**
 * The disk of device major:minor as mountinfo describes it ("ext4:254:0"), or null: not mounted,
 * or a file system where a flush does not cover in-place overwrites (above).
 */
export function flush_disk_in(mountinfo: string, major: number, minor: number): string | null {
  const device = `${major}:${minor}`;
  for (const line of mountinfo.split("\n")) {
    // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext4 /dev/root rw,errors=continue": the
    // optional fields before " - " vary in number, so the type is read after the separator.
    const fields = line.split(" ");
    if (fields[2] !== device) continue;
    const separator = fields.indexOf("-", 6);
    if (separator < 0) return null;
    const type = fields[separator + 1] ?? "";
    const options = (fields[separator + 3] ?? "").split(",");
    if (!IN_PLACE_FILE_SYSTEMS.has(type) || options.includes(JOURNALED_DATA_OPTION)) return null;
    return `${type}:${device}`;
  }
  return null;
}

// Linux's dev_t encoding (glibc's gnu_dev_major/minor): 12 bits of major above 8 of minor in the
// low 32 bits, the rest of each in the high bits. dev_t values stay below 2^53 here.
const LOW_WORD = 2 ** 32;

export function device_major(dev: number): number {
  const low = dev % LOW_WORD;
  const high = Math.floor(dev / LOW_WORD);
  return (((low >>> 8) & 0xfff) | (high & 0xfffff000)) >>> 0;
}

export function device_minor(dev: number): number {
  const low = dev % LOW_WORD;
  const high = Math.floor(dev / LOW_WORD);
  return ((low & 0xff) | ((low >>> 12) & 0xfff00) | ((high & 0xfff) << 20)) >>> 0;
}
