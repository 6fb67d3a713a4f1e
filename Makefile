# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when missing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VALIDATION ?= ../shared/validation

.PHONY: demo test bench lint clean venv chromium

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "python 3.11 is required (set PY=...)"; exit 2; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench,distributed]'
	touch $(STAMP)

# The main job: one scenario through every engine into one report (report.html, report.md, tables/,
# provenance.json), stored in ./chipplan-runs; `chipplan web` browses it.
demo: $(STAMP)
	$(BIN)/chipplan plan examples/frontier_lab.yaml --out demo-report --scenarios 20000
	$(BIN)/chipplan runs list

# The browser tests drive Debian's Chromium; install it from the distribution when it is missing (never a
# downloaded browser).
chromium:
	@test -x /usr/bin/chromium || { apt-get update && apt-get install -y chromium; }

test: $(STAMP) chromium
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -n 2

# Bytecode compiled first, as an installed package has it: a fresh `chipplan predict` then loads it instead of
# recompiling every module (PYTHONDONTWRITEBYTECODE environments never write it themselves).
bench: $(STAMP)
	$(BIN)/python -m compileall -q src benchmarks > /dev/null
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
