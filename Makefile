# Two commands do everything on a fresh Debian machine (as root): `make demo` and `make test`.
# Both install what is missing first: Debian packages, then the Python environment in .venv/.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
PYTHON ?= python3.11
# poppler-utils: PDF pages; fonts: printing forms (IPAex) and handwriting-like samples (kiloji, Klee);
# libgl1, libglib2.0-0, libgomp1: OpenCV and Paddle; ca-certificates: TLS to the package registry;
# python3.11-venv: the small venv uv is installed into when uv is not on PATH.
APT_PACKAGES := poppler-utils fonts-ipaexfont fonts-kiloji fonts-klee libgl1 libglib2.0-0 libgomp1 \
	ca-certificates python3.11 python3.11-venv
STAMP := $(VENV)/.installed
# use the system certificate store (some networks put their own authority there)
export UV_SYSTEM_CERTS := 1
DEMO_DIR := var/demo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

BENCH_OUT ?= bench

.PHONY: help setup apt demo test bench bench-quick clean-demo

help:
	@echo "make demo   install what is missing, read the bundled sample scans, print the results"
	@echo "make test   install what is missing, run the test suite"
	@echo "make bench  accuracy and speed on generated forms and real digits (BENCH_OUT=dir, default bench/)"

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# uv comes from PyPI into a small tools venv when it is not on PATH.
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
.tools/bin/uv: | apt
	$(PYTHON) -m venv .tools
	.tools/bin/pip install -q uv==$(UV_VERSION)

$(STAMP): requirements.lock pyproject.toml | apt $(UV)
	$(UV) venv --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --python $(PY) requirements.lock
	$(UV) pip install --python $(PY) --no-deps -e .
	touch $@

setup: apt $(STAMP)

demo: setup
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	MADOGUCHI_HOME=$(DEMO_DIR) $(VENV)/bin/madoguchi process samples/scans samples/bad --out $(DEMO_DIR)/results --today 2026-11-27
	@MADOGUCHI_HOME=$(DEMO_DIR) $(VENV)/bin/madoguchi report --period $$(date -u +%Y-%m) --out $(DEMO_DIR)/report.xlsx >/dev/null
	@echo
	@echo "見るところ / where to look:"
	@echo "  $(DEMO_DIR)/results/*.json      書類ごとの読取結果 (one per document) と summary.json"
	@echo "  $(DEMO_DIR)/quarantine/         読取不可のファイルと理由 (.reason.txt)"
	@echo "  $(DEMO_DIR)/report.xlsx         今月の読取実績 (the month's ledger, Excel)"
	@echo "  $(DEMO_DIR)/madoguchi.db        データベース (SQLite: document, page, field, reading)"

test: setup
	$(PY) -m pytest -q

bench: setup
	$(VENV)/bin/madoguchi bench --out $(BENCH_OUT)

bench-quick: setup
	$(VENV)/bin/madoguchi bench --quick --out $(BENCH_OUT)

clean-demo:
	rm -rf $(DEMO_DIR)
