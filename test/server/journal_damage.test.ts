// Damage inside the synced part of a group's last journal segment, on a real server's disk: the
// next start-up stops with exit code 3 and an error naming the group's directory, the segment and
// the offset, instead of cutting acknowledged entries as if they were a torn tail.

import { afterAll, expect, test } from "bun:test";
import { closeSync, fsyncSync, openSync, readdirSync, writeSync } from "node:fs";
import { group_dir } from "../../journal/segment_names.ts";
import { open_account } from "../../harness/http_client.ts";
import { ServiceProcess } from "../../harness/service_process.ts";

const EUR = 978;
const PARTNER = 51;
const ACCOUNTS_COUNT = 3;
// Inside the first entry's body (its header is 64 bytes): acknowledged, synced, then rotten.
const DAMAGED_OFFSET_BYTES = 100;

let service: ServiceProcess | null = null;

afterAll(async () => {
  if (service === null) return;
  await service.kill();
  service.remove_data();
});

test("synced entries damaged on disk stop start-up with exit code 3", async () => {
  service = await ServiceProcess.start({ env: { GROUPS: "1", DATABASE_URL: "" } });
  // One committed request at a time: each is its own write, fsynced before the next one, so each
  // later write carries the mark of the one before.
  for (let k = 0; k < ACCOUNTS_COUNT; k++) {
    const result = await open_account(service.base_url, PARTNER, BigInt(2000 + k), EUR);
    expect(result.status).toBe("ok");
  }
  await service.kill(); // SIGKILL: no snapshot at shutdown
  const dir = group_dir(service.data_dir, 0);
  const segment = readdirSync(dir).filter((name) => name.endsWith(".jrnl")).sort()[0]!;
  const fd = openSync(`${dir}/${segment}`, "r+");
  writeSync(fd, new Uint8Array([0xbd]), 0, 1, DAMAGED_OFFSET_BYTES);
  fsyncSync(fd);
  closeSync(fd);

  const failure = await service.restart_refused();
  console.log(failure);
  expect(failure).toContain("exited before ready (code 3");
  expect(failure).toContain(`start-up refused: journal ${dir}: ${segment} is damaged at offset 0`);
  expect(failure).toContain(`a completed fsync covered sequences through ${ACCOUNTS_COUNT - 1}`);
}, 60_000);
