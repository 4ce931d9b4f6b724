// A worker that publishes `count` numbered slots into a ring, parking when it is full.
import { Ring, type RingShape } from "../../common/ring.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ buffer: SharedArrayBuffer; shape: RingShape; count: number }>) => {
  const ring = Ring.attach(event.data.buffer, event.data.shape);
  for (let n = 0; n < event.data.count; n++) {
    while (ring.free_slots() === 0) ring.wait_for_room(100);
    const cursor = ring.claim();
    ring.view.setUint32(ring.slot_offset(cursor), n, true);
    ring.publish(cursor);
  }
  self.postMessage("done");
};
