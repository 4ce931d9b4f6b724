// The SDK against a real server process, over TCP and over HTTP alike: every op with its typed
// result, reads, accepted mode, linked chains, many concurrent calls batched, and typed errors
// (a partner token may not administer accounts; a bad token).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AccountKind } from "../../schema/generated/balance/wire/account-kind.ts";
import { AccountState } from "../../schema/generated/balance/wire/account-state.ts";
import { ErrorCode } from "../../schema/generated/balance/wire/error-code.ts";
import { Status } from "../../schema/generated/balance/wire/status.ts";
import { BalanceClient } from "../../sdk/client.ts";
import { BalanceError } from "../../sdk/errors.ts";
import { start_service, token_for, type SdkService } from "./service.ts";

const EUR = 978;
const P7 = 7;

for (const transport of ["tcp", "http"] as const) {
  describe(`over ${transport}`, () => {
    let sdk: SdkService;
    let admin: BalanceClient;
    let partner: BalanceClient;
    let url: string;

    beforeAll(async () => {
      sdk = await start_service();
      url = transport === "tcp" ? `tcp://127.0.0.1:${sdk.tcp_port}` : sdk.service.base_url;
      admin = await BalanceClient.connect({ url, token: await token_for(sdk.service, { internal: true }),
        partner: P7 });
      // Over TCP the partner comes from the token (HelloOk); HTTP has no session to say it.
      const partner_token = await token_for(sdk.service, { partner: P7 });
      partner = await BalanceClient.connect({ url, token: () => partner_token,
        ...(transport === "http" ? { partner: P7 } : {}) });
      for (const account of [1001n, 1002n, 1003n]) {
        const opened = await admin.open_account({ account, kind: "user", currency: EUR });
        expect(opened.status_name).toBe("ok");
      }
    });

    afterAll(async () => {
      admin?.close();
      partner?.close();
      await sdk?.service.stop();
      sdk?.service.remove_data();
    });

    test("money orders answer typed results; holds capture and release", async () => {
      const credit = await partner.credit({ account: 1001n, amount: 1_000n, currency: EUR });
      expect(credit.status).toBe(Status.ok);
      expect(credit.balance).toBe(1_000n);
      expect(credit.sequence > 0n).toBe(true);
      const debit = await partner.debit({ account: 1001n, amount: 300, currency: EUR });
      expect([debit.status_name, debit.balance]).toEqual(["ok", 700n]);
      const refused = await partner.debit({ account: 1001n, amount: 5_000n, currency: EUR });
      expect(refused.status).toBe(Status.insufficient_funds);
      expect(refused.balance).toBe(700n);
      const check = await partner.check({ account: 1001n, amount: 700n, currency: EUR });
      expect(check.ok).toBe(true);
      const hold = await partner.hold({ account: 1001n, amount: 200n, currency: EUR,
        hold_timeout_ms: 60_000 });
      expect([hold.status_name, hold.available]).toEqual(["ok", 500n]);
      const capture = await partner.capture({ account: 1001n, hold: hold.id, amount: 150n,
        currency: EUR });
      expect([capture.status_name, capture.balance, capture.available]).toEqual(["ok", 550n, 550n]);
      const hold2 = await partner.hold({ account: 1001n, amount: 50n, currency: EUR });
      const release = await partner.release({ account: 1001n, hold: hold2.id, currency: EUR });
      expect([release.status_name, release.available]).toEqual(["ok", 550n]);
      const transfer = await partner.transfer({ account: 1001n, to: 1002n, amount: 50n, currency: EUR });
      expect([transfer.status_name, transfer.balance]).toEqual(["ok", 500n]);

      const info = await partner.account(P7, 1001n);
      expect(info).not.toBeNull();
      expect(info!.balance).toBe(500n);
      expect(info!.kind).toBe(AccountKind.user);
      expect(info!.state).toBe(AccountState.open);
      expect(info!.state_name).toBe("open");
      expect((await partner.account(P7, 1002n))!.balance).toBe(50n);
      expect(await partner.account(P7, 999_999n)).toBeNull();

      const read = await partner.order(P7, credit.id);
      expect(read).toEqual({ ...credit, replayed: false });
      expect(await partner.order(P7, 12345n)).toBeNull();
    });

    test("account administration: freeze, unfreeze, overdraft, close", async () => {
      const freeze = await admin.freeze({ account: 1003n });
      expect(freeze.ok).toBe(true);
      const frozen = await partner.debit({ account: 1003n, amount: 1n, currency: EUR });
      expect(frozen.status).toBe(Status.account_frozen);
      expect((await admin.unfreeze({ account: 1003n })).ok).toBe(true);
      expect((await admin.set_overdraft({ account: 1003n, overdraft_limit: 100n })).ok).toBe(true);
      const overdrawn = await partner.debit({ account: 1003n, amount: 80n, currency: EUR });
      expect([overdrawn.status_name, overdrawn.balance, overdrawn.available]).toEqual(["ok", -80n, 20n]);
      const not_empty = await admin.close_account({ account: 1003n });
      expect(not_empty.status).toBe(Status.account_not_empty);
      await partner.credit({ account: 1003n, amount: 80n, currency: EUR });
      expect((await admin.close_account({ account: 1003n })).ok).toBe(true);
      expect((await admin.account(P7, 1003n))!.state).toBe(AccountState.closed);
    });

    test("a linked chain is all-or-nothing", async () => {
      const before = (await partner.account(P7, 1002n))!.balance;
      const results = await partner.submit([
        { op: "credit", account: 1002n, amount: 10n, currency: EUR, linked: true },
        { op: "debit", account: 1002n, amount: 1_000_000n, currency: EUR },
      ]);
      expect(results.map((r) => r.status_name)).toEqual(["linked_failed", "insufficient_funds"]);
      expect((await partner.account(P7, 1002n))!.balance).toBe(before);
    });

    test("1,000 concurrent calls are batched and each answered", async () => {
      const before = (await partner.account(P7, 1002n))!.balance;
      const calls = Array.from({ length: 1_000 }, () =>
        partner.credit({ account: 1002n, amount: 1n, currency: EUR }));
      const results = await Promise.all(calls);
      expect(results.every((r) => r.ok && !r.replayed)).toBe(true);
      expect(new Set(results.map((r) => r.sequence)).size).toBe(1_000);
      expect((await partner.account(P7, 1002n))!.balance).toBe(before + 1_000n);
    });

    test("accepted mode: pending at once; the order then reads as applied, once", async () => {
      const before = (await partner.account(P7, 1002n))!.balance;
      const result = await partner.credit({ account: 1002n, amount: 5n, currency: EUR },
        { mode: "accepted" });
      expect([result.status_name, result.sequence]).toEqual(["pending", 0n]);
      const outcome = await partner.order(P7, result.id); // answered once durable
      expect([outcome!.status_name, outcome!.sequence > 0n]).toEqual(["ok", true]);
      expect((await partner.account(P7, 1002n))!.balance).toBe(before + 5n);
    });

    test("a partner token may not administer accounts: a typed error", async () => {
      let error: unknown = null;
      try {
        await partner.open_account({ account: 2001n, kind: "user", currency: EUR });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(BalanceError);
      expect((error as BalanceError).code).toBe(ErrorCode.forbidden);
      expect((error as BalanceError).outcome_unknown).toBe(false);
    });

    test("a bad token is refused with its code", async () => {
      let error: unknown = null;
      try {
        const client = await BalanceClient.connect({ url, token: "not-a-jwt", partner: P7 });
        try {
          await client.credit({ account: 1001n, amount: 1n, currency: EUR });
        } finally {
          client.close();
        }
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(BalanceError);
      expect((error as BalanceError).code).toBe(ErrorCode.token_invalid);
    });
  });
}
