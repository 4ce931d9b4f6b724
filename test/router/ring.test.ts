// The SPSC ring across two real threads: every slot arrives once, in order, through many
// wrap-arounds, with the producer parking on a full ring and the consumer on an empty one.

import { expect, test } from "bun:test";
import { Ring } from "../../common/ring.ts";

test("a worker's 200,000 slots arrive in order through a 64-slot ring", async () => {
  const shape = { slot_count: 64, slot_bytes: 64 };
  const ring = Ring.create(shape);
  const count = 200_000;
  const worker = new Worker(new URL("./ring_producer.ts", import.meta.url).href);
  worker.postMessage({ buffer: ring.buffer, shape, count });
  let expected = 0;
  while (expected < count) {
    const available = ring.available();
    if (available === 0) {
      await ring.wait_for_data_async(1_000);
      continue;
    }
    for (let i = 0; i < available; i++) {
      const n = ring.view.getUint32(ring.slot_offset(ring.consumer_cursor()), true);
      if (n !== expected) throw new Error(`slot ${n} arrived where ${expected} was due`);
      expected++;
      ring.release(1);
    }
  }
  expect(expected).toBe(count);
  expect(ring.depth()).toBe(0);
  worker.terminate();
}, 60_000);

test("claim refuses a full ring instead of overwriting", () => {
  const ring = Ring.create({ slot_count: 16, slot_bytes: 8 });
  for (let i = 0; i < 16; i++) ring.publish(ring.claim());
  expect(ring.free_slots()).toBe(0);
  expect(() => ring.claim()).toThrow("ring full");
});

test("a quiet publish leaves a parked consumer parked until the producer wakes it", async () => {
  const shape = { slot_count: 16, slot_bytes: 8 };
  const consumer = Ring.create(shape);
  const producer = Ring.attach(consumer.buffer, shape);
  let woken = false;
  const parked = consumer.wait_for_data_async(10_000).then(() => (woken = true));
  producer.publish_quietly(producer.claim());
  await Bun.sleep(50); // nothing notifies: the wait's 10 s timeout is far away
  expect(woken).toBe(false);
  producer.wake_consumer_if_parked();
  await parked;
  expect(consumer.available()).toBe(1);
});
