# livefilter: `make setup` then `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Parallel numba regions on this project's 2-core targets: the default OpenMP
# layer cost ~8 ms per region under load; workqueue does not.
export NUMBA_THREADING_LAYER ?= workqueue

.PHONY: setup test screenshots demo bench lint clean

setup:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,ray]'
	$(BIN)/livefilter models fetch
	$(BIN)/python -c "from livefilter.hide.composite import warm_up; print(f'compositor kernels ready in {warm_up():.1f} s')"
	@sh .ci/syscheck

test:
	$(BIN)/python -m pytest -q

# Refresh the README's pictures of the page (docs/ui-*.png) from the UI tests.
screenshots:
	LIVEFILTER_UI_SCREENSHOTS=$(CURDIR)/docs $(BIN)/python -m pytest -q tests/test_ui.py

demo:
	$(BIN)/livefilter demo -o demo-output

# Figures land in benchmarks/results/. Not in bench (long, or they install
# things): benchmarks/soak.py (10 minutes), benchmarks/compare.py (deface in a
# throw-away venv), benchmarks/redaction_strength.py, benchmarks/photo_memory.py.
bench:
	$(BIN)/python benchmarks/detect_quality.py
	$(BIN)/python benchmarks/composite.py
	$(BIN)/python benchmarks/leaks.py
	$(BIN)/python benchmarks/live.py

lint:
	$(BIN)/ruff check livefilter tests benchmarks
	$(BIN)/hadolint docker/Dockerfile

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache demo-output
