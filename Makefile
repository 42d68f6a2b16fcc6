# `make demo` — the nightly scan of 2023-05-24 on the bundled real sample (offline) → out/2023-05-24/
# `make test` — the test suite (offline; network tests are opt-in: `make test-network`)
# Both set everything up first (fonts-noto-cjk, .venv, the package) via scripts/setup.sh.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-network bench bench-quick clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

demo: setup
	$(BIN)/anomaly scan --config configs/demo.toml --date 2023-05-24 --out out

test: setup
	$(BIN)/python -m pytest

test-network: setup
	$(BIN)/python -m pytest -m network

bench: setup
	$(BIN)/python -m benchmarks

bench-quick: setup
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf out .pytest_cache
