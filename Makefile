# metareg: `make train EXP=sinusoid_trlearner` installs everything (first time) and runs one experiment.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXP ?= sinusoid_trlearner
WORKDIR ?= runs/$(subst :,_,$(EXP))
GRID ?= table1_sinusoid
ARGS ?=

.PHONY: install train test test-fast lint bench sweep table1 clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# EXP=NAME or NAME:quick (experiments/NAME.py); ARGS for overrides, e.g. ARGS="--config.seed=1"
train: install
	$(PY) -m metareg.main --config=experiments/$(firstword $(subst :, ,$(EXP))).py$(if $(findstring :,$(EXP)),:$(lastword $(subst :, ,$(EXP))),) --workdir=$(WORKDIR) $(ARGS)

test: install
	$(PY) -m pytest tests

test-fast: install
	$(PY) -m pytest tests -m "not slow"

lint: install
	$(PY) -m ruff check metareg tests experiments benchmarks

# Outer-step speed vs learn2learn (builds it beside the project with ../shared/anchors), JSON in benchmarks/results/
bench: install
	$(PY) benchmarks/bench_step.py --out benchmarks/results/sinusoid_step.json $(ARGS)

# A grid of runs (experiments/grids/$(GRID).py), resumable: finished runs are skipped
sweep: install
	$(PY) -m metareg.sweep --grid experiments/grids/$(GRID).py --root runs/$(GRID) $(ARGS)

# Table 1 (sinusoid) from a grid's results.json files; TABLE_ROOT=results/table1_sinusoid uses the committed ones
TABLE_ROOT ?= runs/table1_sinusoid
table1: install
	$(PY) -m metareg.report --root $(TABLE_ROOT) --out docs/results/table1_sinusoid.md --json docs/results/table1_sinusoid.json

clean:
	rm -rf runs .pytest_cache
