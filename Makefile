# dawm — developer entry points. Every target creates .venv and installs what it needs.
#   make setup  : .venv with torch==2.13.0 (CPU wheel) and every package editable, with test extras
#                 (dawm_pipeline's include its `ray` extra: Ray for --launcher ray and its tests)
#   make test   : setup, then pytest over tests/
#   make run    : setup, then the DAWM pipeline on hopper-medium-replay (quick preset)
#   make lint   : ruff over the whole tree
#   make datasets: install every built bundled dataset into local Minari storage (dawm/<env>/<level>-v0)

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
TORCH  := torch==2.13.0

PACKAGES := inverse_dynamics diffusion_wm offline_agents dawm_pipeline
# The native engine (root pyproject.toml): its sources are inputs too, so an edited kernel rebuilds.
ENGINE_SOURCES := CMakeLists.txt $(sort $(shell find csrc python/dawm_kernels -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.cu' -o -name '*.py' \) 2>/dev/null))
SETUP_INPUTS := pyproject.toml requirements-dev.txt $(foreach p,$(PACKAGES),packages/$(p)/pyproject.toml) $(ENGINE_SOURCES)
# The stamp's name is a hash of every file that decides what gets installed: a second
# `make setup` with unchanged inputs does nothing, an edited pyproject reinstalls.
SETUP_HASH := $(shell cat $(SETUP_INPUTS) 2>/dev/null | sha256sum | cut -c1-16)
STAMP  := $(VENV)/.setup-$(SETUP_HASH)

.PHONY: setup test run lint datasets clean

setup: $(STAMP)

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -r requirements-dev.txt
	$(PIP) install --quiet $(foreach p,$(PACKAGES),-e "packages/$(p)[test]")
	$(PIP) install --quiet .
	@rm -f $(VENV)/.setup-*
	@touch $@

test: setup
	$(PY) -m pytest

run: setup
	$(PY) -m dawm_pipeline --env hopper-medium-replay

datasets: setup
	$(PY) -m dawm_pipeline.datasets install

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
