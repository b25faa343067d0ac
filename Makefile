# A newcomer's two commands: `make demo` (kubectl through credplugin against a local API
# server, no cloud account) and `make test` (ruff, mypy, pytest). Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

OIDC := tests/oidc/node_modules/.installed

.PHONY: venv test lint demo bench clean keyring-deps

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# compat mode: a plain path entry, not an import hook that loads pathlib and re at startup
	$(BIN)/pip install -q -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check credplugin tests benchmarks scripts
	$(BIN)/ruff format --check credplugin tests benchmarks scripts
	$(BIN)/mypy

# The OpenID provider the oidc tests start (node-oidc-provider, pinned by package-lock.json).
$(OIDC): tests/oidc/package-lock.json
	if command -v npm >/dev/null; then cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; else echo "npm not found: the oidc tests will be skipped"; fi

# A real Secret Service for the keyring tests (gnome-keyring, dbus-daemon: Debian packages).
# Elsewhere those tests skip with the reason; in CI a failed install fails the run.
keyring-deps:
	KEYRING_DEPS_STRICT=$${KEYRING_DEPS_STRICT:-$$([ "$${CI:-}" = true ] && echo 1 || echo 0)} bash scripts/install-keyring-test-deps.sh

test: lint $(OIDC) keyring-deps
	$(BIN)/pytest -q

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

bench: $(STAMP)
	$(BIN)/python -m compileall -q credplugin
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
