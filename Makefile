# Every target creates its own environment on first use: `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
MPY_BUILD := build/mpy
# The firmware's import path under the unix port: its own package plus the shared codec.
export MICROPYPATH := $(CURDIR)/firmware:$(CURDIR)/protocol:.frozen

POD_ARGS ?=
PYTEST_ARGS ?=
SIM_ARGS ?=

.PHONY: help setup run pod test check typecheck mpy bench soak clean hil

help:
	@echo "make run        start an emulated pod and a handset session against it"
	@echo "make pod        start the emulated pod alone (POD_ARGS='--help' lists options)"
	@echo "make test       all checks and tests (creates .venv on first use)"
	@echo "make check      type-check firmware (MicroPython rp2 stubs) and handset; compile the firmware with mpy-cross"
	@echo "make bench      benchmarks (virtual-time throughput, heap use)"
	@echo "make soak       long soaks: thousands of power cuts, long fuzz runs"
	@echo "make hil PORT=/dev/ttyACM0   the system tests against a real Pico"
	@echo "make sim        a virtual patient with a CGM and low-glucose suspend against the pod, 3 days in virtual time (SIM_ARGS='--help')"

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

setup: $(STAMP)

run: $(STAMP)
	$(PY) -m handset.demo

pod: $(STAMP)
sim: $(STAMP)
	$(BIN)/handset sim $(SIM_ARGS)

	$(BIN)/micropython firmware/main.py $(POD_ARGS)

typecheck: $(STAMP)
	$(BIN)/pyright --project firmware/pyrightconfig.json
	$(BIN)/pyright --project host/pyrightconfig.json

mpy: $(STAMP)
	rm -rf $(MPY_BUILD) && mkdir -p $(MPY_BUILD)
	$(PY) tools/build_mpy.py $(MPY_BUILD)

check: typecheck mpy

test: check
	$(BIN)/pytest $(PYTEST_ARGS) -m "not soak and not bench"; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

bench: $(STAMP) mpy
	$(BIN)/pytest -m bench -p no:randomly -s tests $(PYTEST_ARGS)

soak: $(STAMP)
	$(BIN)/pytest -m soak -s tests $(PYTEST_ARGS)

hil: $(STAMP)
	$(BIN)/pytest tests/system --target serial --port $(PORT) $(PYTEST_ARGS)

clean:
	rm -rf build .pytest_cache .hypothesis
