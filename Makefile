# Two entry points for a fresh machine with only Python 3: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
REPORT ?= reports/demo

.PHONY: demo test lint bench experiment clean

$(VENV)/.installed: setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# torch first, pinned, so nothing pulls the CUDA build (see constraints.txt)
	$(PY) -m pip install --quiet -c constraints.txt torch
	$(PY) -m pip install --quiet -c constraints.txt -e '.[cpu,train,test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/rt-async-control run config/arm.yaml --workers auto --duration 20 \
		--report $(REPORT)

test: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider test

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed
	$(VENV)/bin/rt-async-control bench

experiment: $(VENV)/.installed
	$(VENV)/bin/rt-async-control experiment --quick --out reports/experiment

clean:
	rm -rf $(VENV) reports build install log *.egg-info
