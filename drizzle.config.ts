// drizzle-kit's settings: `npm run db:generate` writes a new migration into projector/migrations/
// from schema/projection.ts (no database needed); the migrations are committed and applied by
// projector/migrate.ts (`npm run db:migrate`, DATABASE_URL).

import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./schema/projection.ts",
  out: "./projector/migrations",
  strict: true,
  verbose: true,
});
