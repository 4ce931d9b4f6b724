// Seeding at start-up through a real node (engine workers, journal worker, files on disk): each row
// opens its account with its opening balance atomically; a rerun changes nothing; bad files are
// refused with the line at fault.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { load_config } from "../../config/config.ts";
import { Metrics } from "../../node/metrics.ts";
import { parse_seed, seed_rows, SeedError } from "../../server/seed.ts";
import { ServiceNode } from "../../node/service_node.ts";
import * as S from "../../common/slots.ts";

const SEED = `account,partner,kind,currency,overdraft_limit,balance
1001,7,partner,978,0,250000
1002,7,user,978,500,-200
1003,8,provider,840,0,0
`;

let node: ServiceNode;
let data_dir: string;

beforeAll(async () => {
  data_dir = mkdtempSync(`${tmpdir()}/balance-seed-`);
  node = await ServiceNode.start(load_config({ DATA_DIR: data_dir, GROUPS: "2",
    ACCOUNTS_PER_GROUP: "1024", HOLDS_PER_GROUP: "64", IDEMPOTENCY_ENTRIES_PER_GROUP: "65536",
    RING_SLOTS: "64", JOURNAL_SEGMENT_BYTES: String(1 << 20) }), new Metrics());
});

afterAll(async () => {
  await node.shutdown();
  rmSync(data_dir, { recursive: true, force: true });
});

async function balance_of(partner: number, account: bigint): Promise<number[]> {
  const answer = await node.router.query(S.SlotKind.query_account, partner, account);
  expect(answer.found).toBe(true);
  const view = new DataView(answer.query_body!.buffer, answer.query_body!.byteOffset);
  return [view.getFloat64(S.ACCOUNT_BALANCE, true), view.getFloat64(S.ACCOUNT_AVAILABLE, true)];
}

describe("seeding", () => {
  test("opens every account with its opening balance, then a rerun changes nothing", async () => {
    const rows = parse_seed(SEED);
    expect(await seed_rows(node, rows)).toEqual({ opened: 3, existing: 0 });
    expect(await balance_of(7, 1001n)).toEqual([250_000, 250_000]);
    expect(await balance_of(7, 1002n)).toEqual([-200, 300]);
    expect(await balance_of(8, 1003n)).toEqual([0, 0]);
    expect(await seed_rows(node, rows)).toEqual({ opened: 0, existing: 3 });
    expect(await balance_of(7, 1001n)).toEqual([250_000, 250_000]);
  });

  test("a bad file is refused naming the line", () => {
    expect(() => parse_seed("account,partner\n1,2\n")).toThrow(SeedError);
    expect(() => parse_seed(`${SEED}1004,7,robot,978,0,0\n`)).toThrow("seed line 5");
    expect(() => parse_seed(`${SEED}1004,7,user,978,0,1.5\n`)).toThrow("seed line 5");
  });
});
