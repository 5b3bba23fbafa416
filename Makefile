# `make demo` and `make test` do all set-up themselves: a virtual environment in .venv, PyTorch
# (the CPU build where no CUDA GPU is present), then dta-edge with the extras each target needs.
# Set-up is skipped on a re-run until pyproject.toml changes (the stamp file is keyed on its hash).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# Where the CPU build of torch comes from if no local wheel provides it (PyTorch's CPU index).
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
HAS_CUDA := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
PYPROJECT_HASH := $(shell sha256sum pyproject.toml | cut -c1-12)
DEMO_EXTRAS := train,gguf,onnx,analysis,energy
TEST_EXTRAS := train,gguf,onnx,analysis,energy,dev
comma := ,
# Keyed on pyproject.toml and the extras, so a change to either re-installs.
DEMO_STAMP := $(VENV)/.installed-$(PYPROJECT_HASH)-$(subst $(comma),-,$(DEMO_EXTRAS))
TEST_STAMP := $(VENV)/.installed-$(PYPROJECT_HASH)-$(subst $(comma),-,$(TEST_EXTRAS))
DEMO_OUT ?= runs/demo

.PHONY: demo test test-fast lint format venv torch browser clean help
.DEFAULT_GOAL := help

help:
	@echo "make demo   set up .venv and run the pipeline on the embedded tiny model (out: $(DEMO_OUT))"
	@echo "make test   set up .venv with test extras, lint, and run the whole test suite"
	@echo "make test-fast  the suite without tests marked slow, server or gpu (about 100 s)"
	@echo "make lint   ruff check + format check;  make format  apply ruff format"
	@echo "make clean  remove .venv and build stamps"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch-$(TORCH_VERSION): | $(BIN)/python
ifeq ($(HAS_CUDA),yes)
	@echo "CUDA GPU found: installing torch==$(TORCH_VERSION) (CUDA build)"
	$(BIN)/pip install --quiet "torch==$(TORCH_VERSION)"
else
	@echo "no CUDA GPU: installing the CPU build of torch $(TORCH_VERSION)"
	$(BIN)/pip install --quiet "torch==$(TORCH_VERSION)+cpu" \
	  || $(BIN)/pip install --quiet "torch==$(TORCH_VERSION)" --index-url "$(TORCH_CPU_INDEX)"
endif
	@touch $@

$(DEMO_STAMP): $(VENV)/.torch-$(TORCH_VERSION)
	$(BIN)/pip install --quiet -e ".[$(DEMO_EXTRAS)]"
	@touch $@

$(TEST_STAMP): $(VENV)/.torch-$(TORCH_VERSION)
	$(BIN)/pip install --quiet -e ".[$(TEST_EXTRAS)]"
	@touch $@

demo: $(DEMO_STAMP)
	$(BIN)/dta demo --out $(DEMO_OUT)

# The report's browser test drives Debian's Chromium through chromedriver (no browser download).
# Installed with apt where we may (root, apt-get present); elsewhere the test says what is missing.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's chromium and chromium-driver for the report's browser test"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
	  || (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -q chromium chromium-driver >/dev/null); \
	else echo "note: no chromium/chromedriver and no root apt-get: the browser test will skip"; fi

lint: $(TEST_STAMP)
	$(BIN)/ruff check dta_edge dta_edge_testing tests benchmarks setup.py
	$(BIN)/ruff format --check dta_edge dta_edge_testing tests benchmarks setup.py
	$(BIN)/lint-imports

format: $(TEST_STAMP)
	$(BIN)/ruff format dta_edge dta_edge_testing tests benchmarks setup.py
	$(BIN)/ruff check --fix dta_edge dta_edge_testing tests benchmarks setup.py

# Two pytest workers (pytest-xdist): on 2 cores the suite's subprocesses, servers and waits
# overlap (10 min instead of 15-19). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

test: lint browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

# The edit-test loop: every test under 2 s on 2 cores; `make test` (what CI runs) runs them all.
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not slow and not server and not gpu"

clean:
	rm -rf $(VENV)
