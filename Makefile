# Bootstrap: every target creates .venv (if missing) and installs the project into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
JOBS   ?= auto

.PHONY: verilog test lint synth synth-engines synth-quick bench clean

BENCH_STAMP := $(VENV)/.bench-stamp

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

## Verilog + JSON manifest of every default design into build/verilog/
verilog: $(STAMP)
	$(PY) -m hw generate-all -o build/verilog

## The whole test suite (Verilator, plus Icarus when iverilog is on PATH)
test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --durations=15

## Lint the default designs with verilator -Wall
lint: verilog
	$(PY) -m pytest -n $(JOBS) -q tests/test_generate.py -k lint

## Synthesis report of the FP units (ECP5 + nextpnr Fmax, xcup) into build/reports/
synth: $(STAMP)
	$(PY) -m hw.synth -o build/reports

## Synthesis of the SAT engines (PE, small arrays, lanes) and of the SparTANN core
synth-engines: $(STAMP)
	$(PY) -m hw.synth_sat -o build/reports
	$(PY) -m hw.synth_spartann -o build/reports

synth-quick: $(STAMP)
	$(PY) -m hw.synth --quick -o build/reports

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $(BENCH_STAMP)

## Benchmarks (numbers, not pass/fail), into build/reports/ (~40 min; BDWP digits is the long one)
bench: $(BENCH_STAMP)
	$(PY) -m sim.bench_spartann -o build/reports
	$(PY) -m sim.bench_spartann_layer -o build/reports
	$(PY) -m sim.bench_dts -o build/reports
	$(PY) -m sim.bench_sat_resnet18 -o build/reports
	$(PY) -m sim.bench_scalesim -o build/reports
	$(PY) -m sim.bench_bdwp_digits -o build/reports

clean:
	rm -rf build sim_build .pytest_cache
