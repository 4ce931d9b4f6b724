// The binding to Linux's sync_file_range (journal/sync_file_range.ts), in its two uses: present on
// this platform, and its arguments reach the kernel as given (a wrong signature would pass
// garbage, and the kernel's answers below would differ).

import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FsyncFailedError, NodeFileLayer } from "../../journal/file_layer.ts";
import { start_writeback, write_out } from "../../journal/sync_file_range.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-file-range-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("on Linux the hint is bound, and the kernel takes a written range of a real file", () => {
  expect(process.platform).toBe("linux"); // the service's platform; elsewhere it is null
  expect(start_writeback).not.toBeNull();
  const files = new NodeFileLayer();
  const fd = files.open(path.join(dir, "segment"), true);
  const bytes = new Uint8Array(64 * 1024).fill(7);
  files.write(fd, bytes, 4096);
  // Past 2^32 too: the 64-bit position and size arrive whole.
  expect(start_writeback!(fd, 4096, bytes.length)).toBe(true);
  expect(start_writeback!(fd, 2 ** 33, 4096)).toBe(true);
  files.start_writeback(fd, 4096, bytes.length); // the layer's own call: no throw
  files.datasync(fd);
  files.close(fd);
});

test("the kernel's refusals come back as false: a closed descriptor, a negative position", () => {
  const files = new NodeFileLayer();
  const fd = files.open(path.join(dir, "closed"), true);
  expect(start_writeback!(fd, 0, 4096)).toBe(true);
  expect(start_writeback!(fd, -4096, 4096)).toBe(false); // EINVAL
  files.close(fd);
  expect(start_writeback!(fd, 0, 4096)).toBe(false); // EBADF
});

test("write_out waits for a written range; the kernel's refusals come back as false", () => {
  expect(write_out).not.toBeNull();
  const files = new NodeFileLayer();
  const fd = files.open(path.join(dir, "written-out"), true);
  const bytes = new Uint8Array(256 * 1024).fill(9);
  files.write(fd, bytes, 0);
  expect(write_out!(fd, 0, bytes.length)).toBe(true);
  expect(write_out!(fd, 2 ** 33, 4096)).toBe(true); // past the end: nothing to write, no error
  expect(write_out!(fd, -4096, 4096)).toBe(false); // EINVAL
  files.write_out(fd, 0, bytes.length); // the layer's own call: no throw
  files.close(fd);
  expect(write_out!(fd, 0, 4096)).toBe(false); // EBADF
});

test("the file layer's write_out turns a refusal into FsyncFailedError, and the fd stays failed", () => {
  const files = new NodeFileLayer();
  const fd = files.open(path.join(dir, "refused"), true);
  files.write(fd, new Uint8Array(4096).fill(1), 0);
  expect(() => files.write_out(fd, -4096, 4096)).toThrow(FsyncFailedError);
  // Never retried: the descriptor refuses every later wait, write_out and datasync alike.
  expect(() => files.write_out(fd, 0, 4096)).toThrow(FsyncFailedError);
  expect(() => files.datasync(fd)).toThrow(FsyncFailedError);
  files.close(fd);
});
