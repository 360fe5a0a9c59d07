# HydraCodeDone — every entry point a user or CI needs.
SWIFT ?= swift
PYTHON ?= python3
VENV := .venv

.PHONY: build release run test unit compat k8s-check e2e demo bench fuzz soak runtime-check clean

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release --static-swift-stdlib

# Your own upstream, configured in .env (created from Configuration/.env.example on first run).
# The release binary, built like `make release` and the Docker image: a long-running proxy should
# not be the debug build, which is several times slower.
run: release
	@[ -f .env ] || { cp Configuration/.env.example .env; echo "Created .env from Configuration/.env.example: edit it to point at your upstream."; }
	$$($(SWIFT) build -c release --static-swift-stdlib --show-bin-path)/hydracodedone

# Everything CI runs: Swift unit + integration tests, then the real-client compatibility suite,
# then the Kubernetes manifests.
test: unit compat k8s-check

# The tests are XCTest: --disable-swift-testing keeps the Swift Testing runner from closing the run
# with a confusing "Test run with 0 tests in 0 suites passed".
unit:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

$(VENV)/.installed: Tests/Compatibility/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r Tests/Compatibility/requirements.txt
	touch $@

compat: $(VENV)/.installed
	$(SWIFT) build
	BIN_DIR=$$($(SWIFT) build --show-bin-path) $(VENV)/bin/python -m pytest -q Tests/Compatibility

# deploy/kubernetes/: API-schema validation (kubernetes-validate) and security policies (checkov),
# both pinned, in .venv-k8s; no cluster needed.
k8s-check:
	bash scripts/k8s-check.sh

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

# Everything the targets and scripts create: build directories (.build; .build-release from bench
# and soak; .build-fuzz from fuzz; other --scratch-path builds), virtual environments (.venv for
# compat, .venv-e2e for e2e and demo, .venv-bench, .venv-soak, .venv-k8s), .work (the demo/e2e
# model, ~242 MB, and their logs), and Python caches. .env (your configuration) stays.
clean:
	rm -rf .build .build-* .build_* .venv .venv-* .work .pytest_cache
	find Tests scripts -name __pycache__ -type d -prune -exec rm -rf {} +
