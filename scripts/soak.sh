#!/usr/bin/env bash
# Bounded soak test (`make soak`; not part of `make test`): 1,000 concurrent streaming clients
# plus mid-stream disconnectors and header stallers against the release proxy and the release
# fake-upstream on loopback, for SOAK_SECONDS (default 600). See scripts/soak/soak.py for what is
# checked and for the other SOAK_* knobs.
#
#   SOAK_SECONDS=60 make soak          # a quick run
#   SOAK_SKIP_BUILD=1 make soak        # use the release binaries already in .build-release/
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
SWIFT="${SWIFT:-swift}"
VENV=".venv-soak"

# Each client is a socket here and in the proxy: raise the open-file limit (root may raise the hard
# limit too). soak.py scales the client count down, loudly, if the limit stays too low.
want=65536
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
    ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -H -n)" 2>/dev/null || true
fi
echo "soak: ulimit -n is $(ulimit -n)"

if [ "${SOAK_SKIP_BUILD:-0}" != 1 ]; then
    echo "soak: building release binaries into .build-release/"
    "$SWIFT" build -c release --scratch-path .build-release --product hydracodedone
    "$SWIFT" build -c release --scratch-path .build-release --product fake-upstream
fi
export SOAK_BIN_DIR="${SOAK_BIN_DIR:-$ROOT/.build-release/release}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
if grep -qvE '^\s*(#|$)' scripts/soak/requirements.txt; then
    "$VENV/bin/pip" install -q -r scripts/soak/requirements.txt
fi

exec "$VENV/bin/python" scripts/soak/soak.py
