# The two commands a fresh machine needs (see README.md):
#   make book   set up .venv, then build the HTML book with every chapter executed  -> _build/html/
#   make test   set up .venv, then run the whole test suite offline
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Offline data: point ARLIB_DATA_MIRROR at a copy laid out like the course's shared/data.
ARLIB_DATA_MIRROR ?= $(abspath $(wildcard ../shared/data))
export ARLIB_DATA_MIRROR
export PIP_DISABLE_PIP_VERSION_CHECK := 1
CHROMIUM_INSTALL := sudo apt-get install -y chromium
BWRAP_INSTALL := sudo apt-get install -y bubblewrap

.PHONY: setup chromium bubblewrap book browse test test-portable notebooks bench lint clean

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt 2> >(grep -v "is ignored: it is neither" >&2)
	$(BIN)/python -m pip install --quiet --no-deps -e . 2> >(grep -v "is ignored: it is neither" >&2)
	$(BIN)/python -m pip check
	touch $@

setup: $(VENV)/.installed chromium bubblewrap

chromium:  ## Debian's Chromium for the browser test: apt-get as root, otherwise the command to run
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium (the browser test opens the built book in it)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing; the browser test needs it. Run: $(CHROMIUM_INSTALL)"; \
	  fi; }

bubblewrap:  ## Debian's bubblewrap, the sandbox of the grader (arlib-grade): apt-get as root, otherwise the command to run
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's bubblewrap (the grader runs submissions in it)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null \
	      || echo "Could not install bubblewrap; the grader falls back to its own namespace sandbox"; \
	  else \
	    echo "bubblewrap is missing; the grader falls back to its own namespace sandbox. Run: $(BWRAP_INSTALL)"; \
	  fi; }

book: setup
	TQDM_DISABLE=1 ARLIB_STATIC_EXPLORERS=1 $(BIN)/jupyter-book build --all -W -n --keep-going .

browse: setup  ## open every page of _build/html (after `make book`) in headless Chromium -> _build/screenshots/
	$(BIN)/python tools/browser.py _build/html --screenshots _build/screenshots

test: setup
	TQDM_DISABLE=1 $(BIN)/python -m pytest

test-portable: setup  ## clone into /tmp, set up, run nbval + grader tests offline on another CPU kernel set
	bash tools/test_portable.sh $(ARGS)

notebooks: setup  ## re-execute every chapter from its jupytext source (commit the .ipynb files)
	$(BIN)/python tools/notebooks.py execute

bench: setup  ## re-measure every shipped model and every speed ratio -> benchmarks/results.json
	$(BIN)/python benchmarks/evaluate_models.py
	$(BIN)/python benchmarks/speed_classical.py
	$(BIN)/python benchmarks/speed_sequence.py
	$(BIN)/python benchmarks/speed_image_audio.py
	$(BIN)/python tools/notebooks.py execute chapters/10_transformers.py  # its summary table reads results.json

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf _build
