# kyso — two commands: `make run` and `make test` (README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KYSO_HOME ?= $(CURDIR)/var
HOST ?= 127.0.0.1
PORT ?= 8080
export KYSO_HOME

# System packages: the HSM, and every outside judge the tests use.
APT_PACKAGES := softhsm2 opensc openssl poppler-utils libnss3-tools qpdf postgresql chromium \
                fonts-liberation2 ca-certificates wrk faketime

.PHONY: run test setup system venv bench clean help

help:
	@echo "make run   - set up, initialise an instance under \$$KYSO_HOME (default ./var) and serve on http://$(HOST):$(PORT)"
	@echo "make test  - set up and run the whole test suite"
	@echo "make bench - run the benchmarks (python -m bench all)"

setup: system venv

system:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "kyso: installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "kyso: missing system packages. Run this once, then again 'make $(MAKECMDGOALS)':"; \
	    echo "  sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip 2>/dev/null || true
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

run: setup
	@$(BIN)/kyso init --if-missing
	@echo ""
	@echo "kyso: open http://$(HOST):$(PORT)  —  log in as 'admin' with the password in $(KYSO_HOME)/admin.password"
	@echo "kyso: health: curl http://$(HOST):$(PORT)/api/v1/health"
	@echo ""
	$(BIN)/kyso serve --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python -m pytest -n 2 -q -p no:cacheprovider

bench: setup
	$(BIN)/python -m bench all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
