# bianmin: the two commands a county IT person needs first are `make demo` and `make test`.
# `make demo` leaves the county console and the desks running for a browser until Ctrl-C.
PYTHON ?= python3
# Tests run in parallel workers (pytest-xdist): most of their time is real processes starting.
PYTEST_ARGS ?= -n 2 --dist worksteal
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# buf from its npm package (tools/buf): lint and breaking-change checks of protos/
BUF    := tools/buf/node_modules/.bin/buf
# the descriptors of the last release's protos (scripts/proto_baseline.sh COMMIT makes them)
PROTO_BASELINE := protos/baseline/0e878fd.binpb

.PHONY: demo test lint typecheck unit e2e proto proto-check vectors bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "bianmin needs Python 3.11 or newer"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bianmin demo --keep-running

test: lint typecheck proto-check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

# Regenerate sync/pb from protos/ (a test fails when the committed code is stale).
proto: $(STAMP)
	PYTHON=$(BIN)/python scripts/gen_proto.sh

$(BUF): tools/buf/package.json tools/buf/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make proto-check needs Node.js and npm" \
	  "(apt-get install nodejs npm) to install buf"; exit 1; }
	npm ci --prefix tools/buf --no-audit --no-fund --loglevel=error
	touch $(BUF)

# buf's lint rules (buf.yaml) and no breaking change against the last release's descriptors:
# a field or payload may be added, nothing a v1 reader relies on may change (docs/protocol.md)
proto-check: $(BUF)
	$(BUF) lint
	$(BUF) breaking --against $(PROTO_BASELINE)

# The protocol's test vectors (tests/vectors) and docs/protocol.md's generated tables.
vectors: $(STAMP)
	$(BIN)/python scripts/make_vectors.py
	$(BIN)/python scripts/protocol_tables.py

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tools/buf/node_modules
