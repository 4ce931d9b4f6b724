# The two entry points are `make run` and `make test`; both install what they need first.
# Bun comes from the npm package `bun` (node_modules/.bin/bun); flatc from Debian's
# flatbuffers-compiler (only the schema test and `make schema` need it).

BUN := node_modules/.bin/bun
# Bun 1.4.5 ignores bunfig.toml's [test] timeout (checked: a 6 s test fails at 5 s), so the
# runner gets it on the command line. Crash and power-loss tests start real processes.
TEST_TIMEOUT_MS := 120000
TSC := node_modules/.bin/tsc

.PHONY: install flatc compose-tool tools services services-down run test typecheck schema \
	bench-engine benchmark clean-data compose-config

node_modules/.installed: package.json package-lock.json $(wildcard patches/*.patch)
	npm ci --no-audit --no-fund
	@test -x $(BUN) || { echo "node_modules/.bin/bun is missing: the bun package's install failed"; exit 1; }
	@touch $@

install: node_modules/.installed

flatc:
	@command -v flatc >/dev/null 2>&1 || scripts/install-system-packages.sh flatbuffers-compiler

# Debian's docker-compose validates docker/docker-compose.yml (no Docker engine is installed).
compose-tool:
	@command -v docker-compose >/dev/null 2>&1 || scripts/services/install.sh compose

# The checkers of deploy/, monitoring/ and .github/ (kustomize, kubernetes-validate, promtool,
# actionlint: Go modules and a PyPI package, cached in ~/.cache/balance-service), built side by
# side so a fresh machine pays one wait, not four. Each test calls its own script too, and fails
# loudly when its tool is missing: a failure here shows there with its reason.
tools:
	@for tool in kustomize kubernetes-validate promtool actionlint; do \
		scripts/install-$$tool.sh >/dev/null 2>/tmp/balance-install-$$tool.log & \
	done; wait

# A private PostgreSQL and a real Kafka broker (KRaft) on 127.0.0.1, started or reused; data in
# ./.services, the Kafka jars cached in ~/.cache/balance-service (docs/services.md). Either one is
# left alone when DATABASE_URL / KAFKA_BROKERS is set. Prints both addresses.
services: install
	scripts/services/up.sh

services-down:
	scripts/services/down.sh

run: install
	$(BUN) server/main.ts

# Typecheck runs as a test (test/typecheck.test.ts), so the totals count it. The tests that need
# PostgreSQL and Kafka reach them through harness/services.ts (the same scripts, reused).
test: install flatc compose-tool tools services
	$(BUN) test --timeout $(TEST_TIMEOUT_MS)

typecheck: install
	$(TSC) --noEmit -p tsconfig.json

schema: install flatc
	$(BUN) scripts/generate-schema.ts

bench-engine: install
	$(BUN) bench/engine.ts

# Every benchmark into one table with the machine's CPU (bench/suite.ts, docs/performance.md): the
# engine, recovery, a hot partner, a fresh service under loadgen (TCP, HTTP FlatBuffers, HTTP JSON,
# both modes; HTTP JSON under wrk too, fetched by scripts/install-wrk.sh), the pipeline.
# BENCHMARK_SECONDS=N per load (default 10); BENCHMARK_PIPELINE=0.
benchmark: install
	$(BUN) bench/suite.ts

clean-data:
	rm -rf ./data

# Validates docker/docker-compose.yml without a Docker engine (docs/local-stack.md).
compose-config: compose-tool
	docker-compose -f docker/docker-compose.yml config --quiet && echo "docker/docker-compose.yml is valid"
