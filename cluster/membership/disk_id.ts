// The data directory's disk id: made once, when the directory is first used, and read at every
// start after. The in-sync set records the disk each member had when it was recorded in sync, so
// a node whose directory was wiped (or replaced) comes back with a new id and is not promoted
// until it has caught up again (docs/cluster.md). The id is written atomically: a crash leaves
// either no id (the next start makes one; nothing was recorded with it) or the whole id.

import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { assert } from "../../common/assert.ts";
import { NodeFileLayer, type FileLayer } from "../../journal/file_layer.ts";
import { disk_id_problem } from "../control_plane/inputs.ts";

export const DISK_ID_FILE = "DISK_ID";
const DISK_ID_TEMP_FILE = "DISK_ID.tmp";
/** 16 random bytes, as 32 hex digits: a valid disk id (DISK_ID_LENGTH_MAX is 64). */
const DISK_ID_RANDOM_BYTES = 16;
/** Room for a valid id and its newline; a longer file is not one this code wrote. */
const DISK_ID_FILE_BYTES_MAX = 128;

/** The id of `data_dir`: read when the directory has one, otherwise made and stored first. */
export function open_disk_id(data_dir: string, files: FileLayer = new NodeFileLayer()): string {
  files.mkdir_p(data_dir);
  if (files.list(data_dir).includes(DISK_ID_FILE)) return read_disk_id(data_dir, files);
  const disk_id = randomBytes(DISK_ID_RANDOM_BYTES).toString("hex");
  assert(disk_id_problem(disk_id) === null, "a made disk id is valid");
  write_disk_id(data_dir, disk_id, files);
  assert(read_disk_id(data_dir, files) === disk_id, "the disk id reads back as written");
  return disk_id;
}

function read_disk_id(data_dir: string, files: FileLayer): string {
  const fd = files.open(path.join(data_dir, DISK_ID_FILE), false);
  try {
    const size_bytes = files.size_bytes(fd);
    assert(size_bytes <= DISK_ID_FILE_BYTES_MAX, `${DISK_ID_FILE}: ${size_bytes} bytes`);
    const bytes = new Uint8Array(size_bytes);
    assert(files.read(fd, bytes, 0) === size_bytes, `${DISK_ID_FILE}: read in full`);
    const disk_id = new TextDecoder().decode(bytes).trimEnd();
    const problem = disk_id_problem(disk_id);
    // Written only by rename of a synced file: anything else is a damaged data directory.
    assert(problem === null, `${path.join(data_dir, DISK_ID_FILE)}: ${problem}`);
    return disk_id;
  } finally {
    files.close(fd);
  }
}

/** Temp file, fsync, rename over the name, fsync the directory. */
function write_disk_id(data_dir: string, disk_id: string, files: FileLayer): void {
  const temp_path = path.join(data_dir, DISK_ID_TEMP_FILE);
  const fd = files.open(temp_path, true);
  try {
    files.truncate(fd, 0);
    files.write(fd, new TextEncoder().encode(`${disk_id}\n`), 0);
    files.datasync(fd);
  } finally {
    files.close(fd);
  }
  files.rename(temp_path, path.join(data_dir, DISK_ID_FILE));
  files.fsync_dir(data_dir);
}
