DROP INDEX "holds_open_idx";--> statement-breakpoint
DROP INDEX "orders_account_sequence_idx";--> statement-breakpoint
DROP INDEX "orders_transfer_target_idx";--> statement-breakpoint
-- Account and order ids are each partner's own. Rows of the old version named accounts unique in
-- their group, so a hold's partner is its account's.
ALTER TABLE "holds" ADD COLUMN "partner" bigint;--> statement-breakpoint
UPDATE "holds" h SET "partner" = a."partner" FROM "accounts" a WHERE a."group_id" = h."group_id" AND a."account_id" = h."account_id";--> statement-breakpoint
ALTER TABLE "holds" ALTER COLUMN "partner" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "holds_open_idx" ON "holds" USING btree ("group_id","partner","account_id") WHERE state = 1;--> statement-breakpoint
CREATE INDEX "orders_account_sequence_idx" ON "orders" USING btree ("partner","account_id","sequence");--> statement-breakpoint
CREATE INDEX "orders_transfer_target_idx" ON "orders" USING btree ("partner","ref","sequence") WHERE op = 7;--> statement-breakpoint
ALTER TABLE "accounts" DROP CONSTRAINT "accounts_pk";
--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_pk" PRIMARY KEY("group_id","partner","account_id");--> statement-breakpoint
ALTER TABLE "holds" DROP CONSTRAINT "holds_pk";
--> statement-breakpoint
ALTER TABLE "holds" ADD CONSTRAINT "holds_pk" PRIMARY KEY("group_id","partner","hold_id");