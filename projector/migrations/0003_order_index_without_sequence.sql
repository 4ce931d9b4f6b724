DROP INDEX "orders_partner_order_idx";--> statement-breakpoint
CREATE INDEX "orders_partner_order_idx" ON "orders" USING btree ("partner","order_id");