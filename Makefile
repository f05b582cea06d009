# Three commands matter (see README): `make demo`, `make test` and `make lab`. Each creates .venv on
# first use.
PYTHON ?= python3
# A fresh venv gets this torch first, so the range in pyproject.toml never pulls a multi-GB build
# (CPU machines: the 2.13.0 wheel; override with `make TORCH=torch==X`). An existing torch is kept.
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hwlib-installed
LAB_STAMP := $(VENV)/.hwlib-lab-installed

.PHONY: demo test lab data env clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,eval,scale,fast]"
	touch $@

# JupyterLab on top of the kit's venv: the `notebooks` extra, reinstalled when pyproject.toml changes.
$(LAB_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[notebooks]"
	touch $@

env: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m hwlib.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q tests --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg notebooks

# The notebooks in a git-ignored working copy (lab/instructor/, or lab/student/ with STUDENT=1).
lab: $(LAB_STAMP)
	$(BIN)/python -m hwlib.lab $(if $(STUDENT),--student)

data: $(STAMP)
	$(BIN)/python -m hwlib.sample_data

clean:
	rm -rf runs out student
