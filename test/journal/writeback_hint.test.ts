// The writeback hint's binding to Linux's sync_file_range (journal/writeback_hint.ts): present on
// this platform, and its arguments reach the kernel as given (a wrong signature would pass
// garbage, and the kernel's answers below would differ).

import { afterAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NodeFileLayer } from "../../journal/file_layer.ts";
import { start_writeback } from "../../journal/writeback_hint.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "writeback-hint-"));
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
