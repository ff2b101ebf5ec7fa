# The whole set-up is `make run` (a worker, with a local broker if none is
# configured) and `make test` (the suite, with the broker it needs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test clean docs chaos

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# With no broker configured, a local try-out: a local Kafka, and var/local.env (written once: a random
# API token, webhooks to this machine allowed), which only this worker reads.
LOCAL_ENV ?= var/local.env

run: $(BIN)/.installed
	@[ -n "$$NOTIFICATION_ACTIONS_BROKER" ] || $(BIN)/notification-actions local-env $(LOCAL_ENV)
	@if [ -z "$$NOTIFICATION_ACTIONS_BROKER" ]; then export NOTIFICATION_ACTIONS_ENV_FILE=$(LOCAL_ENV); fi; \
	  exec $(BIN)/notification-actions worker

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Three workers on three brokers under kill -9, restarts, broker loss and a failing
# sink (~15 minutes); prints the table and writes it into docs/reliability.md.
chaos: $(BIN)/.installed
	$(BIN)/python -m bench.chaos --record $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache

docs: $(BIN)/.installed
	$(BIN)/python -m notification_actions.settings
