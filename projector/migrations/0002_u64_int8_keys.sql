-- u64 values become int8 keys: the value minus 2^63 (schema/projection.ts, u64_key), so the orders
-- table's indexes compare 8-byte integers instead of numerics. Rows already there are converted
-- by the same rule; an int8 holds every u64's key, so the range check has nothing left to check.
ALTER TABLE "accounts" DROP CONSTRAINT "accounts_account_id_u64";--> statement-breakpoint
ALTER TABLE "accounts" ALTER COLUMN "account_id" SET DATA TYPE bigint USING ("account_id" - 9223372036854775808)::bigint;--> statement-breakpoint
ALTER TABLE "holds" ALTER COLUMN "hold_id" SET DATA TYPE bigint USING ("hold_id" - 9223372036854775808)::bigint;--> statement-breakpoint
ALTER TABLE "holds" ALTER COLUMN "account_id" SET DATA TYPE bigint USING ("account_id" - 9223372036854775808)::bigint;--> statement-breakpoint
ALTER TABLE "orders" ALTER COLUMN "order_id" SET DATA TYPE bigint USING ("order_id" - 9223372036854775808)::bigint;--> statement-breakpoint
ALTER TABLE "orders" ALTER COLUMN "account_id" SET DATA TYPE bigint USING ("account_id" - 9223372036854775808)::bigint;--> statement-breakpoint
ALTER TABLE "orders" ALTER COLUMN "amount_minor" SET DATA TYPE bigint USING ("amount_minor" - 9223372036854775808)::bigint;--> statement-breakpoint
ALTER TABLE "orders" ALTER COLUMN "ref" SET DATA TYPE bigint USING ("ref" - 9223372036854775808)::bigint;
