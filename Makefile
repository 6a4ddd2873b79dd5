# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create .venv and install the project into it first (only when pyproject.toml changed).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test soak bench lint venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/prognos demo $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy models edge firmware_bridge mqtt_client
	$(BIN)/python -m pytest $(ARGS)

soak: $(STAMP)
	$(BIN)/python -m pytest -m soak $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/detectors.py
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/serial_noise.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/fleet_models.py
	$(BIN)/python bench/rul.py
	$(BIN)/python bench/cloud.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/broker.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy models edge firmware_bridge mqtt_client

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
