# Two commands on a fresh machine with Docker: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Test processes (pytest-xdist): tests that share a module's stack stay on one, the surge drills take one lane in
# turn (tests/conftest.py). Two: ~11 min on two cores instead of ~21 with `make test TEST_JOBS=1` (tests/README.md).
TEST_JOBS ?= 2

.PHONY: demo test test-unit lint docker tools images clean bench

$(BIN)/faultdrill: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

docker:
	@bash scripts/ensure-docker.sh

tools:
	@bash scripts/ensure-test-tools.sh

demo: $(BIN)/faultdrill docker   ## run the bundled demo drill
	$(BIN)/faultdrill demo

lint: $(BIN)/faultdrill          ## ruff and mypy --strict: seconds, so they fail first
	$(BIN)/ruff check src tests bench examples scripts
	$(BIN)/mypy --strict src

test: lint $(BIN)/faultdrill docker tools   ## lint, then every test: unit, conformance, integration (Docker), e2e drills
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadgroup

test-unit: lint $(BIN)/faultdrill     ## lint and the fast tests, no Docker
	$(BIN)/python -m pytest tests/unit tests/conformance

images: $(BIN)/faultdrill docker
	$(BIN)/faultdrill images build

clean: $(BIN)/faultdrill
	$(BIN)/faultdrill clean
