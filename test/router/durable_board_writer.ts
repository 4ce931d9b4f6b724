// A worker that publishes `count` updates to a durable board: every group at the same sequence,
// counting up from 2^40 (above 2^32, so both words of each sequence change).
import { DurableBoard } from "../../common/durable_board.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ buffer: SharedArrayBuffer; count: number }>) => {
  const board = new DurableBoard(event.data.buffer);
  const durable = new Map<number, number>();
  for (let n = 1; n <= event.data.count; n++) {
    for (let group = 0; group < board.groups; group++) durable.set(group, 2 ** 40 + n * 4097);
    board.publish(durable);
  }
  self.postMessage("done");
};
