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
# python3.11-venv: the small venv uv is installed into when uv is not on PATH;
# chromium-headless-shell, fonts-noto-cjk: the browser tests look at the Prefect UI (and bots drive);
# postgresql: the scale-out tests start a throwaway cluster for Prefect's database and ours.
# procps: `ps`, which the test that kills a worker uses to find its flow-run processes.
# supervisor: runs the server, reader, worker and watcher of `server up` and starts again any that dies.
# caddy: `server up --listen` serves the UI on the office network with TLS (its own local CA) and a login;
# iproute2: `ip netns`, which the office-network test uses to make a second host of its own.
# git: `madoguchi bench --compare REV` (and its test) reads with another commit's code in a git worktree.
APT_PACKAGES := poppler-utils fonts-ipaexfont fonts-kiloji fonts-klee libgl1 libglib2.0-0 libgomp1 \
	ca-certificates python3.11 python3.11-venv chromium-headless-shell fonts-noto-cjk postgresql procps supervisor \
	caddy iproute2 git
STAMP := $(VENV)/.installed
# use the system certificate store (some networks put their own authority there)
export UV_SYSTEM_CERTS := 1
DEMO_DIR := var/demo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

BENCH_OUT ?= bench
DIGIT_DATA ?= ../shared/data

.PHONY: help setup apt demo demo-down test bench bench-quick bench-prefect bench-entry fuzz chaos clean-demo train-digits calibrate-digits compare-digits

help:
	@echo "make demo   install what is missing, start server+reader+worker+watcher and the stand-in core system,"
	@echo "            read the sample scans through the inbox, enter the finished ones into the core system"
	@echo "make demo-down  stop what make demo started"
	@echo "make test   install what is missing, run the test suite"
	@echo "make bench  accuracy and speed on generated forms and real digits (BENCH_OUT=dir, default bench/)"
	@echo "make bench-prefect  drop-to-database latency, batch through the server vs a plain loop, 1 and 2 readers"
	@echo "make bench-entry  one bot entering records into the stand-in core system: records/min, CPU-s/record"
	@echo "make fuzz   10,000 mutated sample files through the loaders (FUZZ_N=n): loaded, quarantined, crashes"
	@echo "make chaos  1,000 files arrive while the watcher, reader, worker, Prefect server and stand-in are killed at random"
	@echo "            (CHAOS_N=n, CHAOS_KILLS=k): 0 lost, 0 read twice, 0 entered twice (bench/chaos/chaos.md)"
	@echo "make train-digits  train the digit reader again from ../shared/data (27 min on 2 idle cores, bfloat16)"
	@echo "make calibrate-digits  certify the digit-vote thresholds on held-out handwriting (bench/calibrate-digits.json)"
	@echo "make compare-digits MODEL=path  a new digit model against the shipped one on the same held-out handwriting"

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

# uv once died of a segmentation fault installing the project itself on a new machine (2026-12-06, uv
# 0.13.9, after the sync had finished); the second try went through. Each install step is tried twice.
$(STAMP): requirements.lock pyproject.toml | apt $(UV)
	$(UV) venv --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --python $(PY) requirements.lock || $(UV) pip sync --python $(PY) requirements.lock
	$(UV) pip install --python $(PY) --no-deps -e . || $(UV) pip install --python $(PY) --no-deps -e .
	touch $@

setup: apt $(STAMP)

# The whole product on the bundled samples: server, worker and watcher start, the scans are dropped
# into the inbox as a clerk would, read by the warm reader, then the batch flow writes the Excel report.
# Everything keeps running afterwards so the Prefect UI can be looked at; `make demo-down` stops it.
MADOGUCHI := MADOGUCHI_HOME=$(DEMO_DIR) $(VENV)/bin/madoguchi
demo: setup
	@$(MADOGUCHI) server down >/dev/null 2>&1 || true
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(MADOGUCHI) server up
	$(MADOGUCHI) drop samples/scans samples/bad --wait 900
	$(MADOGUCHI) batch --folder done --wait --report $(DEMO_DIR)/reports/demo-batch.xlsx
	@# the stand-in answers about 1 request in 100 with a 500; one after 登録 leaves that document for the
	@# next entry run (which looks its key up first: README, "When something goes wrong"), so run it once more
	$(MADOGUCHI) entry --wait || { echo "入力できなかった書類は次の入力実行で照合キーを検索してから入力します。もう一度実行します"; \
		$(MADOGUCHI) entry --wait; }
	@$(MADOGUCHI) report --period $$(TZ=Asia/Tokyo date +%Y-%m) --out $(DEMO_DIR)/reports/ledger.xlsx >/dev/null
	@port=$$($(MADOGUCHI) server status | $(PY) -c 'import json,sys; print(json.load(sys.stdin)["ui"])'); \
	echo; \
	echo "見るところ / where to look:"; \
	core=$$($(MADOGUCHI) server status | $(PY) -c 'import json,sys; print(json.load(sys.stdin)["core_system_url"])'); \
	echo "  $$port/v2/runs           Prefect UI: 受付-<ファイル名> の実行と結果 (flow runs)"; \
	echo "  $$core/search?biko=AI-OCR  模擬基幹システム: ボットが入力した記録 (利用者 madoguchi-bot, パスワードは Secret ブロック core-system-password)"; \
	echo "  $(DEMO_DIR)/evidence/                 入力時の画面の記録 (確認画面・完了画面のスクリーンショット)"; \
	echo "  $(DEMO_DIR)/reports/demo-batch.xlsx  一括読取レポート (項目ごとの状態と要確認項目の画像)"; \
	echo "  $(DEMO_DIR)/reports/ledger.xlsx      今月の読取実績 (the month's ledger)"; \
	echo "  $(DEMO_DIR)/done/ quarantine/        処理済みのファイル / 読取不可のファイルと理由 (.reason.txt)"; \
	echo "  $(DEMO_DIR)/madoguchi.db             データベース (SQLite)"; \
	echo "  $(DEMO_DIR)/logs/                    server, reader, worker, watcher のログ"; \
	echo "止めるには / to stop: make demo-down"

demo-down:
	@$(MADOGUCHI) server down

test: setup
	$(PY) -m pytest -q

bench: setup
	$(VENV)/bin/madoguchi bench --out $(BENCH_OUT)

# drop-to-database latency (20 scans, then 3 after 10 minutes idle), a batch of 50 through the real server
# against a plain loop, and 200 scans read by 1 then 2 warm readers on PostgreSQL (about 45 min on 2 cores)
bench-prefect: setup
	$(VENV)/bin/madoguchi bench-prefect --out $(BENCH_OUT)/prefect

# one bot entering records into the stand-in core system: records per minute, CPU seconds per record
bench-entry: setup
	$(VENV)/bin/madoguchi bench-entry --out $(BENCH_OUT)/entry

# mutated sample files through the loaders: each loads or is quarantined with a reason; crashes, stalls
FUZZ_N ?= 10000
fuzz: setup
	$(VENV)/bin/madoguchi bench-fuzz --count $(FUZZ_N) --out $(BENCH_OUT)/fuzz

# files keep arriving while every process of `server up` is killed with SIGKILL at random; supervisord brings
# them back. Checks at the end: nothing lost, nothing read or entered twice, every bad file quarantined.
CHAOS_N ?= 1000
CHAOS_KILLS ?= 24
chaos: setup
	$(VENV)/bin/madoguchi bench-chaos --files $(CHAOS_N) --kills $(CHAOS_KILLS) --out $(BENCH_OUT)/chaos

bench-quick: setup
	$(VENV)/bin/madoguchi bench --quick --out $(BENCH_OUT)

clean-demo: demo-down
	rm -rf $(DEMO_DIR)

# The digit reader's model (ocr/models/digits-cnn.onnx), trained again from ../shared/data. torch and
# onnx live only in .venv-train: the product runs the model on ONNX Runtime. pip takes torch's CPU
# build from the machine's wheel folder where it has one (PIP_FIND_LINKS), else from PyPI.
TRAIN_VENV := .venv-train
TRAIN_PACKAGES := torch==2.13.0 onnx==1.23.2
$(TRAIN_VENV)/.installed: requirements.lock pyproject.toml | apt $(UV)
	$(UV) venv --allow-existing --python $(PYTHON) $(TRAIN_VENV)
	$(UV) pip sync --python $(TRAIN_VENV)/bin/python requirements.lock
	$(UV) pip install --python $(TRAIN_VENV)/bin/python --no-deps -e .
	$(TRAIN_VENV)/bin/python -m ensurepip >/dev/null
	$(TRAIN_VENV)/bin/python -m pip install -q $(TRAIN_PACKAGES)
	touch $@

train-digits: $(TRAIN_VENV)/.installed
	$(TRAIN_VENV)/bin/python -m training.digits --data $(DIGIT_DATA) $(TRAIN_ARGS)

# thresholds for the digit vote, certified on held-out handwriting with the product's own readers
calibrate-digits: setup
	$(PY) -m training.calibrate_digits --data $(DIGIT_DATA) --out $(BENCH_OUT)/calibrate-digits.json

# a newly trained digit model (MODEL=, e.g. from TRAIN_ARGS="--out bench/new.onnx") against the shipped one
compare-digits: setup
	@test -n "$(MODEL)" || { echo 'usage: make compare-digits MODEL=bench/new.onnx (make train-digits TRAIN_ARGS="--out bench/new.onnx" makes one)'; exit 2; }
	$(PY) -m training.compare_digits $(MODEL) --data $(DIGIT_DATA) --lines $(BENCH_OUT)/held-out-lines.pkl \
		--out $(BENCH_OUT)/compare-digits.json --crops $(BENCH_OUT)/compare-digits-cells
