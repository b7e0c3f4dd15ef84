# The two commands of the README, and what they need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install demo test generated bench clean

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

# Throughput and memory on a generated corpus (.cache/bench/), against the targets; starts its
# own OpenSearch node like the tests. Options: make bench BENCH_ARGS="--hosts 8 --days 3".
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

# The Logstash and ingest pipelines generated from grok_patterns/ and pipeline/data/, and the
# dashboards from pipeline/data/dashboards.yaml; a test fails when the committed files differ
# from what this writes.
generated: install
	mkdir -p integrations/ingest
	$(BIN)/senderlog export ingest-pipeline -o integrations/ingest/epost-senderlog.json
	$(BIN)/senderlog export logstash integrations/logstash --no-patterns
	$(BIN)/senderlog dashboards export dashboards

clean:
	rm -rf $(VENV) out .pytest_cache
