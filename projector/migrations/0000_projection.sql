CREATE TABLE "accounts" (
	"group_id" integer NOT NULL,
	"account_id" numeric(20, 0) NOT NULL,
	"partner" bigint NOT NULL,
	"kind" smallint NOT NULL,
	"currency" smallint NOT NULL,
	"state" smallint NOT NULL,
	"overdraft_limit_minor" bigint NOT NULL,
	"balance_minor" bigint NOT NULL,
	"held_minor" bigint NOT NULL,
	"available_minor" bigint GENERATED ALWAYS AS (balance_minor - held_minor + overdraft_limit_minor) STORED NOT NULL,
	"last_sequence" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "accounts_pk" PRIMARY KEY("group_id","account_id"),
	CONSTRAINT "accounts_account_id_u64" CHECK (account_id >= 0 and account_id <= 18446744073709551615),
	CONSTRAINT "accounts_held_not_negative" CHECK (held_minor >= 0),
	CONSTRAINT "accounts_overdraft_not_negative" CHECK (overdraft_limit_minor >= 0)
);
--> statement-breakpoint
CREATE TABLE "applied_sequence" (
	"group_id" integer PRIMARY KEY NOT NULL,
	"sequence" bigint NOT NULL,
	"epoch" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "holds" (
	"group_id" integer NOT NULL,
	"hold_id" numeric(20, 0) NOT NULL,
	"account_id" numeric(20, 0) NOT NULL,
	"amount_minor" bigint NOT NULL,
	"expires_at_ms" bigint,
	"state" smallint NOT NULL,
	"opened_sequence" bigint NOT NULL,
	"sequence" bigint NOT NULL,
	CONSTRAINT "holds_pk" PRIMARY KEY("group_id","hold_id"),
	CONSTRAINT "holds_amount_not_negative" CHECK (amount_minor >= 0)
);
--> statement-breakpoint
CREATE TABLE "orders" (
	"group_id" integer NOT NULL,
	"sequence" bigint NOT NULL,
	"epoch" bigint NOT NULL,
	"engine_time_ms" bigint NOT NULL,
	"partner" bigint NOT NULL,
	"order_id" numeric(20, 0) NOT NULL,
	"account_id" numeric(20, 0) NOT NULL,
	"op" smallint NOT NULL,
	"status" smallint NOT NULL,
	"amount_minor" numeric(20, 0) NOT NULL,
	"ref" numeric(20, 0) NOT NULL,
	"currency" smallint NOT NULL,
	"balance_after_minor" bigint NOT NULL,
	"held_after_minor" bigint NOT NULL,
	"counter_balance_after_minor" bigint NOT NULL,
	"projected_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "orders_pk" PRIMARY KEY("group_id","sequence")
);
--> statement-breakpoint
CREATE INDEX "accounts_partner_account_idx" ON "accounts" USING btree ("partner","account_id");--> statement-breakpoint
CREATE INDEX "holds_open_idx" ON "holds" USING btree ("group_id","account_id") WHERE state = 1;--> statement-breakpoint
CREATE INDEX "orders_partner_order_idx" ON "orders" USING btree ("partner","order_id","sequence");--> statement-breakpoint
CREATE INDEX "orders_account_sequence_idx" ON "orders" USING btree ("account_id","sequence");--> statement-breakpoint
CREATE INDEX "orders_transfer_target_idx" ON "orders" USING btree ("ref","sequence") WHERE op = 7;