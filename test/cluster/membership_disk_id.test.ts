// The data directory's disk id (cluster/membership/disk_id.ts): made once, atomically; read back
// unchanged at every later start; a new or wiped directory gets a new one.

import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DISK_ID_FILE, open_disk_id } from "../../cluster/membership/disk_id.ts";
import { disk_id_problem } from "../../cluster/control_plane/inputs.ts";
import { NodeFileLayer } from "../../journal/file_layer.ts";

const made: string[] = [];

afterEach(() => {
  while (made.length > 0) fs.rmSync(made.pop()!, { recursive: true, force: true });
});

function temp_dir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "disk-id-"));
  made.push(dir);
  return dir;
}

/** Records the file operations, to check the write's order. */
class RecordingFileLayer extends NodeFileLayer {
  readonly calls: string[] = [];
  override datasync(fd: number): void {
    this.calls.push("datasync");
    super.datasync(fd);
  }
  override rename(source_path: string, target_path: string): void {
    this.calls.push(`rename ${path.basename(source_path)} ${path.basename(target_path)}`);
    super.rename(source_path, target_path);
  }
  override fsync_dir(dir: string): void {
    this.calls.push("fsync_dir");
    super.fsync_dir(dir);
  }
}

describe("disk id", () => {
  test("made once, by temp file, fsync, rename, fsync of the directory", () => {
    const dir = path.join(temp_dir(), "data");
    const files = new RecordingFileLayer();
    const disk_id = open_disk_id(dir, files);
    expect(disk_id_problem(disk_id)).toBeNull();
    expect(files.calls).toEqual(["datasync", `rename DISK_ID.tmp ${DISK_ID_FILE}`, "fsync_dir"]);
    expect(fs.readdirSync(dir)).toEqual([DISK_ID_FILE]);
    expect(fs.readFileSync(path.join(dir, DISK_ID_FILE), "utf8")).toBe(`${disk_id}\n`);
  });

  test("kept across reopen: read, never written again", () => {
    const dir = temp_dir();
    const disk_id = open_disk_id(dir);
    const files = new RecordingFileLayer();
    expect(open_disk_id(dir, files)).toBe(disk_id);
    expect(open_disk_id(dir)).toBe(disk_id);
    expect(files.calls).toEqual([]);
  });

  test("a wiped directory or another directory gets a new id", () => {
    const dir = temp_dir();
    const first = open_disk_id(dir);
    expect(open_disk_id(temp_dir())).not.toBe(first);
    fs.rmSync(dir, { recursive: true });
    const second = open_disk_id(dir);
    expect(second).not.toBe(first);
    expect(open_disk_id(dir)).toBe(second);
  });

  test("a leftover temp file from a crash before the rename is replaced", () => {
    const dir = temp_dir();
    fs.writeFileSync(path.join(dir, "DISK_ID.tmp"), "half");
    const disk_id = open_disk_id(dir);
    expect(fs.readdirSync(dir)).toEqual([DISK_ID_FILE]);
    expect(open_disk_id(dir)).toBe(disk_id);
  });

  test("a damaged id file stops the node (an assertion), changing nothing", () => {
    const dir = temp_dir();
    fs.writeFileSync(path.join(dir, DISK_ID_FILE), "Not An Id\n");
    expect(() => open_disk_id(dir)).toThrow(/disk id must be/);
    fs.writeFileSync(path.join(dir, DISK_ID_FILE), "a".repeat(200));
    expect(() => open_disk_id(dir)).toThrow(/DISK_ID: 200 bytes/);
    expect(fs.readFileSync(path.join(dir, DISK_ID_FILE), "utf8")).toBe("a".repeat(200));
  });
});
