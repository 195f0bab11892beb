# Two commands: `make run` sets everything up and serves; `make test` sets up and runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint setup bench bench-cluster bench-join bench-live esun ranker rules adherence soak clean

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(DEV_STAMP)

setup: $(STAMP)
	$(VENV)/bin/flask --app webapp setup

run: setup
	@echo "Serving on http://$(HOST):$(PORT)/ (accounts: var/demo-accounts.txt)"
	$(VENV)/bin/gunicorn --config webapp/gunicorn.conf.py --bind $(HOST):$(PORT) --access-logfile - 'webapp:create_app()'

# Lint first (ruff: style, unused names, import order; tests/test_imports.py fails on an import cycle), then every test.
test: lint
	$(PY) -m pytest -q tests

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .

# Two gunicorn nodes on a throw-away PostgreSQL vs one SQLite node: publish → searchable on the other node, join time,
# HTTP p95 for 50 agents (needs Debian's postgresql binaries, as the tests do).
bench-cluster: $(DEV_STAMP)
	$(PY) bench/cluster.py

# Live calls: utterance POST → event on the agent's SSE stream for LIVE_CALLS concurrent calls on gunicorn with the
# production config (webapp/gunicorn.conf.py); LIVE_SECONDS long (keep it short on a shared machine). The calls
# start within LIVE_RAMP seconds (5: all at once, the worst case); LIVE_RAMP=100 LIVE_SECONDS=160 measures the
# steady state, calls at independent points of their recordings (nothing is counted during the ramp).
LIVE_CALLS ?= 50
LIVE_SECONDS ?= 60
LIVE_RAMP ?= 5
# A node joining a 50k-chunk knowledge base over a throw-away PostgreSQL: empty data folder → answering.
bench-join: $(DEV_STAMP)
	$(PY) bench/join_scale.py --size 50k

bench-live: $(DEV_STAMP)
	$(PY) bench/live.py --calls $(LIVE_CALLS) --seconds $(LIVE_SECONDS) --ramp $(LIVE_RAMP)

esun: $(DEV_STAMP)
	$(PY) bench/esun.py

# Relearn the article ranker's weights (kb/data/ranker.json) on the tuning halves; commit the file it writes.
ranker: $(DEV_STAMP)
	$(PY) bench/train_ranker.py --write

# Compliance prompts on held-out wordings (test split) and the E.SUN questions; RULES_SPLIT=validation for tuning.
RULES_SPLIT ?= test
rules: $(DEV_STAMP)
	$(PY) bench/rules.py --split $(RULES_SPLIT)

# Disclosures the agent said: held-out agent lines and near-misses (newest blind split); ADHERENCE_SPLIT=tuning for tuning.
ADHERENCE_SPLIT ?= blind6
adherence: $(DEV_STAMP)
	$(PY) bench/adherence.py --split $(ADHERENCE_SPLIT)

bench: $(DEV_STAMP)
	$(PY) bench/run_all.py

# Simulated agents against gunicorn on loopback for SOAK_SECONDS (default 300) on a copy of var/; prints figures only.
SOAK_SECONDS ?= 300
soak: setup $(DEV_STAMP)
	$(PY) bench/soak.py --seconds $(SOAK_SECONDS)

clean:
	rm -rf var/index var/kb.sqlite
