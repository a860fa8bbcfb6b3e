# cimtwin: `make demo` and `make test` are the two commands a newcomer needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= demo-out
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba-cache

.PHONY: install demo test bench bench-peers docs reference clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cimtwin needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Build the sample city, ingest it, run the design-storm flood and write the 3D scene.
demo: install
	$(BIN)/twin demo --out $(DEMO)

## The whole test suite.
test: install
	$(BIN)/python -m pytest

## The peers the benchmarks compare against (richdem comes with the test extras). pywr 1.31.1 pins
## pandas < 3 but runs with pandas 3, so the second line puts pandas 3 back.
bench-peers: install
	$(BIN)/python -m pip install --quiet "pysheds==0.5" "pywr==1.31.1"
	$(BIN)/python -m pip install --quiet "pandas>=3,<4"

## Benchmarks against the named peers (installs them into the venv; about 50 minutes in all).
## Each writes its section of benchmarks/RESULTS.md.
bench: bench-peers
	$(BIN)/python benchmarks/bench_flood.py
	$(BIN)/python benchmarks/bench_scene.py
	NUMBA_NUM_THREADS=2 $(BIN)/python benchmarks/bench_terrain.py --repeat 2 --write
	NUMBA_NUM_THREADS=1 $(BIN)/python benchmarks/bench_river.py
	$(BIN)/python benchmarks/bench_ensemble.py --cells 600 --members 8 --write
	$(BIN)/python benchmarks/bench_water.py
	NUMBA_NUM_THREADS=2 $(BIN)/python benchmarks/bench_drainage.py --repeat 3 --load 2

## The scenario reference (docs/scenarios.md), generated from the scenario models.
reference: install
	$(BIN)/python -m twin._schema_docs docs/scenarios.md

## Regenerate the docs: the scenario reference, verification plots and the demo scene screenshots
## (desktop, phone, and the A4 print view printed to PDF by Chromium, its page as PNG by pdftoppm).
docs: reference demo
	$(BIN)/python benchmarks/plot_verification.py
	$(BIN)/python -m tools.browser $(DEMO)/result/scene.html docs/img/demo_scene.png
	$(BIN)/python -m tools.browser --phone $(DEMO)/result/scene.html docs/img/demo_phone.png
	$(BIN)/python -m tools.browser --print A4 --pdf $$(mktemp -d)/scene_A4.pdf $(DEMO)/result/scene.html docs/img/demo_print_a4.png
	cp $(DEMO)/water/water.png docs/img/sample_water.png

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .numba-cache
