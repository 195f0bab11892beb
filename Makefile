# Two commands: `make run` sets everything up and serves; `make test` sets up and runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test setup bench bench-cluster esun rules soak clean

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

setup: $(STAMP)
	$(VENV)/bin/flask --app webapp setup

run: setup
	@echo "Serving on http://$(HOST):$(PORT)/ (accounts: var/demo-accounts.txt)"
	$(VENV)/bin/gunicorn --config webapp/gunicorn.conf.py --bind $(HOST):$(PORT) --access-logfile - 'webapp:create_app()'

test: $(STAMP)
	$(PY) -m pytest -q tests

# Two gunicorn nodes on a throw-away PostgreSQL vs one SQLite node: publish → searchable on the other node, join time,
# HTTP p95 for 50 agents (needs Debian's postgresql binaries, as the tests do).
bench-cluster: $(STAMP)
	$(PY) bench/cluster.py

esun: $(STAMP)
	$(PY) bench/esun.py

# Compliance prompts on held-out wordings (test split) and the E.SUN questions; RULES_SPLIT=validation for tuning.
RULES_SPLIT ?= test
rules: $(STAMP)
	$(PY) bench/rules.py --split $(RULES_SPLIT)

bench: $(STAMP)
	$(PY) bench/run_all.py

# Simulated agents against gunicorn on loopback for SOAK_SECONDS (default 300) on a copy of var/; prints figures only.
SOAK_SECONDS ?= 300
soak: setup
	$(PY) bench/soak.py --seconds $(SOAK_SECONDS)

clean:
	rm -rf var/index var/kb.sqlite
