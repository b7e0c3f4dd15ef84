# The two commands of the README, and what they need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install demo test clean

$(BIN)/senderlog: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/senderlog

# Parse the bundled sample senderlogs (all of 3 December 2025) into out/events.ndjson.
demo: install
	mkdir -p out
	$(BIN)/senderlog parse samples/senderlog --date 2025-12-03 -o out/events.ndjson

# The whole test suite.
test: install
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) out .pytest_cache
