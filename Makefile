# SAMAD-111: the two commands are `make up` (run the platform) and `make test` (pass the tests).
# Everything else is a step they use. A fresh machine needs only Python 3.11, Java 17 + Maven, Go,
# Node.js with npm, and apt (the browser tests' chromium is Debian's package).

SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PY := $(UV) run --frozen python
STACK := $(PY) deploy/local/stack.py

.PHONY: help install up down test test-unit test-faults lint typecheck stack-test-up stack-test-down bench bench-console bench-inbox docs clean

help:
	@echo "make up     - install everything, start Kafka, FerretDB and the four services (Ctrl-C stops all);"
	@echo "              SAMAD_TRACING=1 make up also starts Jaeger and traces every service (docs/observability.md)"
	@echo "make test   - install everything, start a separate test stack, run the whole suite, stop it"
	@echo "make bench  - benchmark the pipeline against raw Kafka and MongoDB ceilings"
	@echo "make bench-console - the console's speed with 10,000 cases: pages, submit, suggestion, first load"
	@echo "make bench-inbox - the inbox with 5,000 open cases, 200 live pages at 20 cases/s, the 90-day dashboard"
	@echo "make lint typecheck test-unit test-faults down clean"

$(UV):
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced
	$(STACK) install

up: install
	$(PY) deploy/local/up.py

down:
	-$(STACK) stop --profile dev

lint: .venv/.synced
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports

typecheck: .venv/.synced
	$(UV) run --frozen mypy contracts services

test-unit: .venv/.synced
	$(UV) run --frozen pytest tests/unit -q

# The whole suite against its own Kafka and FerretDB (ports 19092/27018, data in .local/test) and, at the
# same time, the fault-injection runs (about five minutes) on a stack of their own (ports 29092/27019,
# data in .local/faults): they share no port, process, topic or database with the suite, and most of
# each one's time is spent waiting, so side by side they take about as long as the suite alone. The
# fault runs' output is kept in .local/test-faults.log and printed after the suite's.
test: install lint typecheck
	@mkdir -p .local
	( $(MAKE) --no-print-directory test-faults > .local/test-faults.log 2>&1; echo $$? > .local/test-faults.status ) & \
	faults=$$!; status=0; \
	$(STACK) start --profile test || status=$$?; \
	if [ $$status -eq 0 ]; then \
	  $(UV) run --frozen pytest -q -p no:cacheprovider --durations=25 --ignore=tests/faults || status=$$?; fi; \
	$(STACK) stop --profile test; \
	echo "waiting for the fault runs (.local/test-faults.log)"; wait $$faults; \
	cat .local/test-faults.log; \
	test $$status -eq 0 && test "$$(cat .local/test-faults.status)" -eq 0

# Kills services, restarts Kafka and FerretDB and poisons topics while cases flow; then, on the same
# stack, notify on SMPP while the test SMSC sends receipts early and cuts sessions. It runs its own
# stack (profile faults: ports 29092/27019) and stops it.
test-faults: install
	$(UV) run --frozen pytest tests/faults -q -s -p no:cacheprovider

# Ends with the cost of tracing: the same saturation with tracing off and on (--tracing-cases 0 skips it).
bench: install
	$(PY) bench/pipeline.py

# The console's pages, submits and first load against its own stack (profile bench), about 20 minutes.
bench-console: install
	$(PY) bench/console.py

# The agency's inbox, its live feed and the supervisor's dashboard over 100,000 cases, against its own
# stack (profile bench); the dashboard's seed is the long part.
bench-inbox: install
	$(PY) bench/inbox.py

docs: .venv/.synced
	@mkdir -p docs/asyncapi
	for s in intake routing tracking notify; do \
	  $(UV) run --frozen faststream docs gen --factory services.$$s.entrypoints.asyncapi:asyncapi \
	    --yaml --out docs/asyncapi/$$s.yaml; done

clean:
	-$(STACK) stop --profile dev
	-$(STACK) stop --profile test
	rm -rf .local .venv
