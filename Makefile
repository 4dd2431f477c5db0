# Every target does its own set-up: a fresh machine needs only python3.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
EXAMPLE := examples/delivery_eta
# Each cloud's own open-source runtime, in a venv of its own (their pins clash with
# each other's and with ours): the referees of what the adapters submit and serve.
REFEREES := .venv-referees
# the serving library of SageMaker's scikit-learn 1.2-1 image and the pins of that image's
# requirements.txt the library needs on Python 3.11 (Flask 1.1 with its contemporaries, protobuf 3.20,
# and setuptools + wheel, with which pip installs the user module offline); '+' joins one spec's pins
SKLEARN_SERVING_PINS := sagemaker-containers==2.8.6.post2+protobuf==3.20.2+Flask==1.1.1+itsdangerous==2.0.1
SKLEARN_SERVING_PINS := $(SKLEARN_SERVING_PINS)+jinja2==3.0.3+MarkupSafe==2.1.1+Werkzeug==2.0.3+gunicorn==23.0.0
SKLEARN_SERVING_PINS := $(SKLEARN_SERVING_PINS)+gevent==23.9.1+setuptools==80.9.0+wheel==0.45.1
REFEREE_SPECS := sagemaker-training:sagemaker-training==5.1.4 \
	azureml-inference:azureml-inference-server-http==1.5.1 \
	vertex-prediction:google-cloud-aiplatform[prediction]==2.7.0 \
	sagemaker-sklearn-serving:$(SKLEARN_SERVING_PINS)
REFEREE_STAMPS := $(foreach spec,$(REFEREE_SPECS),$(REFEREES)/$(word 1,$(subst :, ,$(spec)))/.installed)
# Azurite (Azure Storage emulator) for the Azure ML adapter tests, from npm, project-local
AZURITE_VERSION := 3.35.0
AZURITE := .ci-tools/.azurite-$(AZURITE_VERSION)

.PHONY: test demo bench install referees clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# each with scikit-learn, pandas, joblib and numpy at our venv's versions, as the
# clouds' scikit-learn images carry them (a pickled model loads across the two)
$(REFEREES)/%/.installed: $(STAMP) Makefile
	test -x $(REFEREES)/$*/bin/python || $(PYTHON) -m venv $(REFEREES)/$*
	$(REFEREES)/$*/bin/python -m pip install --quiet \
		$(foreach pin,$(subst +, ,$(word 2,$(subst :, ,$(filter $*:%,$(REFEREE_SPECS))))),'$(pin)') \
		$$($(PY) -c "from importlib.metadata import version as v; print(*(p + '==' + v(p) for p in ('scikit-learn', 'pandas', 'joblib', 'numpy')))")
	touch $@

$(AZURITE):
	npm install --prefix .ci-tools --no-audit --no-fund --no-save --silent azurite@$(AZURITE_VERSION)
	touch $(AZURITE)

install: $(STAMP) $(AZURITE)

referees: $(REFEREE_STAMPS)

test: $(STAMP) $(REFEREE_STAMPS) $(AZURITE)
	MLGATES_REFEREES=required $(PY) -m pytest -n 2 -q tests

demo: $(STAMP)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH bash scripts/demo.sh

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) $(REFEREES) $(EXAMPLE)/.mlgates .pytest_cache .ci-tools
