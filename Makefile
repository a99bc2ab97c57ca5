# metareg: `make train EXP=sinusoid_trlearner` installs everything (first time) and runs one experiment.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXP ?= sinusoid_trlearner
WORKDIR ?= runs/$(subst :,_,$(EXP))
GRID ?= table1_sinusoid
ARGS ?=

.PHONY: install train test test-all test-optimized lint mutants bench sweep table1 table1-5k table1-sinusoid tables scorecard figures docs clean

# GPU=1: also JAX's CUDA 12 build (the `cuda12` extra); the same commands then run on the GPU
GPU ?=
comma := ,
EXTRAS := dev,chem$(if $(filter 1,$(GPU)),$(comma)cuda12)
STAMP := $(VENV)/.installed$(if $(filter 1,$(GPU)),-cuda12)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

# EXP=NAME or NAME:quick (experiments/NAME.py); ARGS for overrides, e.g. ARGS="--config.seed=1"
train: install
	$(PY) -m metareg.main --config=experiments/$(firstword $(subst :, ,$(EXP))).py$(if $(findstring :,$(EXP)),:$(lastword $(subst :, ,$(EXP))),) --workdir=$(WORKDIR) $(ARGS)

# -n auto: one pytest worker per core (pytest-xdist); the suite is compile-bound, so the workers overlap XLA.
# test: every module's unit and numerical tests and one end-to-end kill-and-resume (minutes);
# test-all: everything, also the end-to-end runs, fault injection, sharding, notebooks (CI runs it).
# What is slow: @pytest.mark.slow and tests/conftest.py's SLOW_MODULES / SLOW_TESTS.
test: install
	$(PY) -m pytest tests -n auto -m "not slow"

test-all: install
	$(PY) -m pytest tests -n auto

test-optimized: install  # the suite under XLA's full optimization pipeline (tests/conftest.py)
	METAREG_TEST_OPTIMIZED=1 $(PY) -m pytest tests -n auto

lint: install
	$(PY) -m ruff format --check metareg tests experiments benchmarks
	$(PY) -m ruff check metareg tests experiments benchmarks

# Mutation testing: each plausible bug of benchmarks/mutants.py, applied alone to a scratch copy, must
# fail the tests listed for it (exit 1 if one survives, 2 if one no longer applies); JSON in
# benchmarks/results/mutants.json. Needs no data and no network; ARGS="--only NAME,..." for a few
mutants: install
	$(PY) benchmarks/mutants.py $(ARGS)

# Outer-step speed vs learn2learn (builds it beside the project with ../shared/anchors), JSON in benchmarks/results/:
# the sinusoid step, then the Omniglot Conv4 step (ratio_same_allocator, trlearner_peak_ratio); idle cores only
bench: install
	$(PY) benchmarks/bench_step.py --out benchmarks/results/sinusoid_step.json $(ARGS)
	$(PY) benchmarks/bench_conv.py --out benchmarks/results/omniglot_conv_step.json

# A grid of runs (experiments/grids/$(GRID).py), resumable: finished runs are skipped
sweep: install
	$(PY) -m metareg.sweep --grid experiments/grids/$(GRID).py --root runs/$(GRID) $(ARGS)

# TRLearner's Table 1 at its budget (70,000 steps, `make sweep GRID=table1_budget`): the paper's layout
# with the Bayes floor and each claim judged by its backbone's regime (table1.{md,json}), and the
# train-vs-test regime table (table1_budget.md). TABLE_ROOT=results/table1_budget: the committed runs.
TABLE_ROOT ?= runs/table1_budget
TABLE1_TITLE = TRLearner Table 1 at the budget (sinusoid_w1, 70,000 steps, 3 seeds, every backbone at K = 5 and 10)
table1: install
	$(PY) -m metareg.analysis.report --root $(TABLE_ROOT) --layout table1 --out docs/results/table1.md --json docs/results/table1.json
	$(PY) -m metareg.analysis.tables regime --root $(TABLE_ROOT)/sinusoid_w1 --title "$(TABLE1_TITLE)" --out docs/results/table1_budget.md

# The scorecard: every published claim we ran, judged by one rule (metareg.analysis.stats.judge),
# from the committed results: docs/results/scorecard.{md,json}
scorecard: install
	$(PY) -m metareg.analysis.scorecard --results results --out docs/results/scorecard

# Every committed table in docs/results/ from results/ (the list: metareg/analysis/committed.py)
tables: install
	$(PY) -m metareg.analysis.committed
	$(PY) -m metareg.analysis.report --root results/table1_budget --layout table1 --out docs/results/table1.md --json docs/results/table1.json
	$(PY) -m metareg.analysis.report --root results/table1_full --layout table1 --out docs/results/table1_5k.md --json docs/results/table1_5k.json
	$(PY) -m metareg.analysis.report --root results/table1_sinusoid --out docs/results/table1_sinusoid.md --json docs/results/table1_sinusoid.json
	$(PY) -m metareg.analysis.figures studies --root results/trlearner_studies --out docs/results

# The first pass at 5,000 steps (every backbone x regularizer, sinusoid w=1 + harmonic, and Table 9);
# TABLE5K_ROOT=results/table1_full: the committed runs
TABLE5K_ROOT ?= runs/table1_full
table1-5k: install
	$(PY) -m metareg.analysis.report --root $(TABLE5K_ROOT) --layout table1 --out docs/results/table1_5k.md --json docs/results/table1_5k.json
	$(PY) -m metareg.analysis.report --root $(TABLE5K_ROOT) --layout table9 --out docs/results/table9.md

# The 20k-step sinusoid table per family (stated and w=1), 1 and 10 test steps (issue 2's reproduction)
SINUSOID_ROOT ?= runs/table1_sinusoid
table1-sinusoid: install
	$(PY) -m metareg.analysis.report --root $(SINUSOID_ROOT) --out docs/results/table1_sinusoid.md --json docs/results/table1_sinusoid.json

# Figures (PNG) from trained runs: TRLearner studies (Figs. 4, 5, 10), predictions, relation matrices, curves
FIG_ROOT ?= runs/table1_full
STUDIES_ROOT ?= runs/trlearner_studies
figures: install
	$(PY) -m metareg.analysis.figures studies --root $(STUDIES_ROOT) --out docs/results
	$(PY) -m metareg.analysis.figures predictions --out docs/results/fig_predictions.png \
	  --runs MAML=$(FIG_ROOT)/sinusoid_w1/k5/maml/seed_0,MAML+TRLearner=$(FIG_ROOT)/sinusoid_w1/k5/maml+trlearner/seed_0
	$(PY) -m metareg.analysis.figures relations --run $(FIG_ROOT)/sinusoid_w1/k5/maml+trlearner/seed_0 --out docs/results/fig9_relations.png
	$(PY) -m metareg.analysis.figures curves --root $(FIG_ROOT) --out docs/results/curves_table1_w1_k5.png \
	  --cells sinusoid_w1/k5/maml,sinusoid_w1/k5/maml+meta_aug,sinusoid_w1/k5/maml+metamix,sinusoid_w1/k5/maml+mr_maml,sinusoid_w1/k5/maml+trlearner

# The docs site (MkDocs: README, reports, the notebooks executed, API from docstrings) into site/; warnings fail it
$(VENV)/.docs-installed: $(STAMP) pyproject.toml
	$(PY) -m pip install -e ".[docs]"
	touch $@

docs: install $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf runs .pytest_cache
