# make test: create .venv if missing, install the pinned requirements, run the suite.
# make demo: the same environment, then the whole quick pipeline (evaluation/demo.py).
# pytest exits 5 when it collects no tests; make treats that as failure, as it should.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: test demo bench venv clean

$(STAMP): requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# make demo: the quick pipeline end to end into runs/quick (re-running skips finished stages).
demo: $(STAMP)
	$(VENV)/bin/python -m evaluation.demo --config quick

bench: $(STAMP)
	$(VENV)/bin/python -m soft.bench

clean:
	rm -rf $(VENV) .pytest_cache
