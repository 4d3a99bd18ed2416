# The two commands a newcomer runs: `make lab` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# What the course needs (make lab), and what the tests, the site and the bench need on top.
LAB_STAMP := $(VENV)/.installed-lab
STAMP := $(VENV)/.installed
# The learner's own copy of the notebooks (git-ignored): make lab opens it, git pull never
# touches it, make reset CHAPTER=04 puts one chapter back as the course ships it.
WORK := my-notebooks
export PATH := /usr/sbin:/sbin:$(PATH)

.PHONY: lab reset test test-long lint bench data apt-deps clean captures workshop docs

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "mmlab needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV) || { apt-get update && apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }

$(LAB_STAMP): pyproject.toml lab-settings/overrides.json | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@# JupyterLab opens on the chapter with nothing in the way: no news or update pop-up
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp lab-settings/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $@

$(STAMP): $(LAB_STAMP)
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# Debian packages the tests and the bench use: util-linux-extra (mkfs.cramfs, fsck.cramfs),
# time (GNU /usr/bin/time: the bench reads each command's peak memory from it) and chromium (the
# browser tests drive JupyterLab in it with Playwright, which cannot download its own browser).
apt-deps:
	@if ! command -v mkfs.cramfs >/dev/null || ! command -v fsck.cramfs >/dev/null \
	    || ! test -x /usr/bin/time || ! command -v chromium >/dev/null; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
	    util-linux-extra time chromium; \
	fi

# The workshop copy of the course, made from HEAD's files: notebooks without solution cells,
# quizzes without "Show the answer", in build/workshop (the answer key for the instructor is
# docs/quiz-answers.md). It needs only what `make lab` installs (nbformat comes with JupyterLab).
workshop: $(LAB_STAMP)
	$(PY) -m mmlab.workshop --src notebooks --dst build/workshop

lab: $(LAB_STAMP)
	$(PY) -m mmlab.workcopy sync --src notebooks --dst $(WORK)
	cd $(WORK) && ../$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) \
	  00-welcome.ipynb

# Put one chapter of your copy back as the course ships it: make reset CHAPTER=04 (or labs/05).
reset: $(LAB_STAMP)
	$(PY) -m mmlab.workcopy reset "$(CHAPTER)" --src notebooks --dst $(WORK)

# ruff, then the import contracts of pyproject.toml (the model's layers, no cycles).
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/lint-imports

test: $(STAMP) apt-deps lint
	$(PY) -m pytest -q -m "not slow"

# The long profiles: 10,000 mm sequences, 100,000 fuzzed cramfs images.
test-long: $(STAMP) apt-deps
	MMLAB_PROFILE=long $(PY) -m pytest -q -m "slow or profile" -p no:cacheprovider

bench: $(STAMP) apt-deps
	$(PY) -m pip install -q -e '.[dev,bench]'
	@# the cramfs bench builds a root file system of Debian's busybox and zoneinfo
	@if ! command -v busybox >/dev/null || ! test -d /usr/share/zoneinfo; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static tzdata; \
	fi
	$(PY) -m mmlab.bench

data: $(STAMP) apt-deps
	$(PY) -m mmlab.cramfs.samples data

# What a real kernel does with XIP cramfs images (not part of `make test`): Debian's 6.1 kernel
# and its fs/cramfs built out of tree, booted under QEMU; then Debian's 6.1 source built with the
# 2017 fault-time split (KASAN, lockdep; about 4 min from scratch), its scenarios and its races;
# see data/kernel-captures/README.md.
captures: $(STAMP)
	$(PY) tools/kernel-captures/capture.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .import_linter_cache .grimp_cache

# The course site: every chapter executed and rendered (widgets as their static pictures), the
# library and CLI reference, the instructor guide, and the course as a JupyterLite site in
# build/docs/lite; any warning fails the build. Set
# MMLAB_REPOSITORY_URL for the launch buttons of a published site.
docs: $(STAMP)
	$(PY) -m pip install -q -e '.[docs]'
	$(VENV)/bin/sphinx-build -W --keep-going -q -c docs -b html . build/docs
	$(PY) -m mmlab.lite build/docs/lite
