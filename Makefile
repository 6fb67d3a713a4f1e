# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when missing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VALIDATION ?= ../shared/validation

.PHONY: demo test bench lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "python 3.11 is required (set PY=...)"; exit 2; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench,distributed]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chipplan catalog list accelerators
	$(BIN)/chipplan model llama-3.1-405b
	@if [ -d $(VALIDATION) ]; then $(BIN)/chipplan validate $(VALIDATION)/training_calibration.csv --by-group; fi
	@if [ -d $(VALIDATION) ]; then $(BIN)/chipplan validate $(VALIDATION)/inference_calibration.csv --by-group; fi
	$(BIN)/chipplan train --model llama-3.1-405b --hardware h100-sxm-80gb --gpus 16384 --tokens 15.6e12 --price 2.5
	$(BIN)/chipplan train --model examples/gpt5_class_moe.yaml --hardware b200-sxm-180gb --tokens 40e12 --days 120 --precision fp8
	$(BIN)/chipplan compare --model llama-3.1-70b --tokens 15e12 --days 60 --hardware h100-sxm-80gb --hardware b200-sxm-180gb --hardware gb200-nvl72 --hardware mi300x
	$(BIN)/chipplan serve --model llama-3.1-70b --hardware h100-sxm-80gb --input-len 2048 --output-len 512 --slo-tpot-ms 50 --qps 20 --price-per-hour 2.5
	$(BIN)/chipplan tco --system dgx-h100 --years 3
	$(BIN)/chipplan strategy examples/frontier_lab.yaml --scenarios 20000

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
