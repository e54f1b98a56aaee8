# Two entry points: `make demo` (check, train, export the quickstart spec on bundled
# offline data) and `make test` (the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.caegen-installed
# Test processes: each test file runs whole in one of them (its fixtures are built once).
TEST_WORKERS ?= 2

.PHONY: demo test db-servers bench lint docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,sweep,lsp]' --config-settings editable_mode=compat
	$(BIN)/python -m compileall -q caegen
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/caegen check specs/quickstart.yaml
	$(BIN)/caegen train specs/quickstart.yaml
	$(BIN)/caegen export runs/quickstart --onnx --force

test: $(STAMP) db-servers
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The database tests start throwaway PostgreSQL and MariaDB servers from Debian's packages,
# installed here when they are missing (as root; elsewhere those tests say why they skip).
db-servers:
	@bash tests/db_servers.sh

bench: $(STAMP)
	$(BIN)/python bench/check_latency.py
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/onnx_inference.py
	$(BIN)/python bench/sweep_invalid.py
	$(BIN)/python bench/lsp_latency.py
	$(BIN)/python bench/check_scaling.py
	$(BIN)/python bench/bn_recalibration.py
	$(BIN)/python bench/score_throughput.py
	$(BIN)/python bench/report.py

lint: $(STAMP)
	$(BIN)/ruff check caegen tests bench examples
	$(BIN)/ruff format --check caegen tests bench examples

docs: $(STAMP)
	$(BIN)/caegen schema > docs/caegen.schema.json
	$(BIN)/python docs/sync_codes.py

clean:
	rm -rf $(VENV) runs .pytest_cache
