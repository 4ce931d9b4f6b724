CREATE TABLE "cluster_settings" (
	"id" smallint PRIMARY KEY NOT NULL,
	"groups" integer NOT NULL,
	"replicas" integer NOT NULL,
	"partner_map" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cluster_settings_one_row" CHECK (id = 1),
	CONSTRAINT "cluster_settings_groups_positive" CHECK (groups >= 1),
	CONSTRAINT "cluster_settings_replicas_positive" CHECK (replicas >= 1)
);
--> statement-breakpoint
CREATE TABLE "group_leases" (
	"group_id" integer PRIMARY KEY NOT NULL,
	"members" text[] NOT NULL,
	"holder" text NOT NULL,
	"epoch" bigint NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"first_sequence" bigint NOT NULL,
	"in_sync" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "group_leases_epoch_u32" CHECK (epoch >= 1 and epoch <= 4294967295),
	CONSTRAINT "group_leases_first_sequence_positive" CHECK (first_sequence >= 1),
	CONSTRAINT "group_leases_holder_is_member" CHECK (holder = any(members)),
	CONSTRAINT "group_leases_in_sync_array" CHECK (jsonb_typeof(in_sync) = 'array'),
	CONSTRAINT "group_leases_holder_in_sync" CHECK (in_sync @> jsonb_build_array(jsonb_build_object('node', holder)))
);
--> statement-breakpoint
CREATE TABLE "nodes" (
	"node_id" text PRIMARY KEY NOT NULL,
	"http_address" text NOT NULL,
	"tcp_address" text NOT NULL,
	"replication_address" text NOT NULL,
	"disk_id" text NOT NULL,
	"registered_at" timestamp with time zone DEFAULT now() NOT NULL,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL
);
