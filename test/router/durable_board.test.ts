// The durable board (common/durable_board.ts): the journal worker's durable sequences as the main
// thread reads them. Sequences above 2^32 come back whole; a read that a publish overlapped says
// so; across two real threads every read that succeeds sees one whole update, never two halves.

import { expect, test } from "bun:test";
import { DurableBoard } from "../../common/durable_board.ts";

test("a publish reads back whole, above 2^32 too, and moves the generation on", () => {
  const board = DurableBoard.create(3);
  const seen = new Float64Array(3);
  const before = board.generation();
  board.publish(new Map([[0, 5], [2, 2 ** 52 + 3]]));
  const after = board.generation();
  expect(after).not.toBe(before);
  expect(board.read(after, seen)).toBe(true);
  expect([...seen]).toEqual([5, 0, 2 ** 52 + 3]);
  const reader = new DurableBoard(board.buffer); // the main thread's view of the same memory
  board.publish(new Map([[1, 2 ** 32], [0, 6]]));
  expect(reader.read(reader.generation(), seen)).toBe(true);
  expect([...seen]).toEqual([6, 2 ** 32, 2 ** 52 + 3]);
});

test("a read as of an older generation, or of one under way, says to read again", () => {
  const board = DurableBoard.create(1);
  const seen = new Float64Array(1);
  const old = board.generation();
  board.publish(new Map([[0, 7]]));
  expect(board.read(old, seen)).toBe(false); // a publish came in between
  expect(board.read(old + 1, seen)).toBe(false); // odd: a publish under way
  expect(board.read(board.generation(), seen)).toBe(true);
  expect(seen[0]).toBe(7);
});

test("across threads, every successful read is one whole update", async () => {
  const groups = 4;
  const count = 200_000;
  const board = DurableBoard.create(groups);
  const worker = new Worker(new URL("./durable_board_writer.ts", import.meta.url).href);
  let done = false;
  worker.onmessage = () => (done = true);
  worker.postMessage({ buffer: board.buffer, count });
  const seen = new Float64Array(groups);
  let whole_reads = 0;
  let refused_reads = 0;
  let last = 0;
  while (!done || last < 2 ** 40 + count * 4097) {
    if (!board.read(board.generation(), seen)) {
      refused_reads++;
      continue;
    }
    // One update: every group at the same sequence, which only goes forward.
    for (let group = 1; group < groups; group++) expect(seen[group]).toBe(seen[0]!);
    expect(seen[0]! >= last).toBe(true);
    if (seen[0]! > 0) expect((seen[0]! - 2 ** 40) % 4097).toBe(0);
    last = seen[0]!;
    whole_reads++;
    if (whole_reads % 1_000 === 0) await Bun.sleep(0); // let the worker's "done" arrive
  }
  worker.terminate();
  expect(last).toBe(2 ** 40 + count * 4097);
  expect(whole_reads).toBeGreaterThan(0);
  console.log(`durable board: ${whole_reads} whole reads, ${refused_reads} refused (overlapped)`);
}, 60_000);
