# Two entry points do all set-up themselves: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit integration bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/screener demo

lint: $(STAMP)
	$(BIN)/ruff check screener tests
	$(BIN)/mypy screener

test: $(STAMP) lint
	$(BIN)/python -m screener.brokers.kafka --prefetch
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/screener bench engine

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
