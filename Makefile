# Every target does its own set-up: a fresh machine needs only python3.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
EXAMPLE := examples/delivery_eta
# Each cloud's own open-source runtime, in a venv of its own (their pins clash with
# each other's and with ours): the referees of what the adapters submit.
REFEREES := .venv-referees
SM_TRAINING := $(REFEREES)/sagemaker-training/.installed-5.1.4

.PHONY: test demo bench install referees clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# the toolkit with what the scikit-learn image adds, at our venv's versions (a pickled model loads across them)
$(SM_TRAINING): $(STAMP)
	test -x $(REFEREES)/sagemaker-training/bin/python || $(PYTHON) -m venv $(REFEREES)/sagemaker-training
	$(REFEREES)/sagemaker-training/bin/python -m pip install --quiet 'sagemaker-training==5.1.4' \
		$$($(PY) -c "from importlib.metadata import version as v; print(*(p + '==' + v(p) for p in ('scikit-learn', 'pandas', 'joblib', 'numpy')))")
	touch $(SM_TRAINING)

install: $(STAMP)

referees: $(SM_TRAINING)

test: $(STAMP) $(SM_TRAINING)
	MLGATES_REFEREES=required $(PY) -m pytest -n 2 -q tests

demo: $(STAMP)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH bash scripts/demo.sh

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) $(REFEREES) $(EXAMPLE)/.mlgates .pytest_cache
