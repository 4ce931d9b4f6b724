// drizzle-kit's settings for the cluster's control plane: `npm run db:generate:cluster` writes a
// new migration into cluster/control_plane/migrations/ from cluster/control_plane/tables.ts (no
// database needed); cluster/control_plane/migrate.ts applies them (docs/cluster.md).

import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./cluster/control_plane/tables.ts",
  out: "./cluster/control_plane/migrations",
  strict: true,
  verbose: true,
});
