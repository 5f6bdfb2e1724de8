# Two commands on a fresh machine: `make demo` and `make test`. Either one creates the virtual
# environment first. torch is installed alone and pinned before anything that depends on it, so that
# pip takes the CPU build on disk instead of downloading a CUDA build.
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
DEMO_OUT := demo_out

.PHONY: setup demo test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/tsgan fit datasets/samples/industrial_train.csv -o $(DEMO_OUT)/industrial.tsgan
	$(BIN)/tsgan detect datasets/samples/industrial_test.csv --model $(DEMO_OUT)/industrial.tsgan \
		-o $(DEMO_OUT)/flagged.json --scores $(DEMO_OUT)/scores.parquet
	$(BIN)/tsgan evaluate datasets/samples/industrial_test.csv --model $(DEMO_OUT)/industrial.tsgan \
		--label-col is_anomaly

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(DEMO_OUT)
