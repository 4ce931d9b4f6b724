# The two entry points are `make run` and `make test`; both install what they need first.
# Bun comes from the npm package `bun` (node_modules/.bin/bun); flatc from Debian's
# flatbuffers-compiler (only the schema test and `make schema` need it).

BUN := node_modules/.bin/bun
TSC := node_modules/.bin/tsc

.PHONY: install flatc run test typecheck schema bench-engine clean-data

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@test -x $(BUN) || { echo "node_modules/.bin/bun is missing: the bun package's install failed"; exit 1; }
	@touch $@

install: node_modules/.installed

flatc:
	@command -v flatc >/dev/null 2>&1 || scripts/install-system-packages.sh flatbuffers-compiler

run: install
	$(BUN) server/main.ts

# Typecheck runs as a test (test/typecheck.test.ts), so the totals count it.
test: install flatc
	$(BUN) test

typecheck: install
	$(TSC) --noEmit -p tsconfig.json

schema: install flatc
	$(BUN) scripts/generate-schema.ts

bench-engine: install
	$(BUN) bench/engine.ts

clean-data:
	rm -rf ./data
