#!/usr/bin/env bash
# `make demo`: the whole critique pipeline on this machine, no Ollama and no API key.
# A real LLM server (llama.cpp + Gemma 3 270M, both from PyPI) on 127.0.0.1:8090 and the proxy
# on 127.0.0.1:3101 in front of it, primary and critique both Gemma. Ctrl-C stops both.
#
# Gemma 3 270M is a tiny base model: its answers are nonsense. The point is the pipeline: watch
# the proxy's stage lines (primary started, first token, critique started, done) as you send
# requests. Point PRIMARY/CRITIQUE at a real model with `make run` and a .env for real answers.
#
# Environment: DEMO_PORT (3101), LLAMA_PORT (8090), SWIFT (swift).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
# shellcheck source=scripts/llama-server.sh
source scripts/llama-server.sh

PROXY_PORT="${DEMO_PORT:-3101}"
LLAMA_PORT="${LLAMA_PORT:-8090}"
WORK="$ROOT/.work/demo"
LLAMA_LOG="$WORK/llama-server.log"
PROXY_PID=""
mkdir -p "$WORK"

say() { echo "demo: $*" >&2; }

stop_all() {
    # A second Ctrl-C while stopping must not leave a server behind.
    trap '' INT TERM
    trap - EXIT
    if [ -n "$PROXY_PID" ] && kill -0 "$PROXY_PID" 2>/dev/null; then
        say "stopping the proxy (pid $PROXY_PID)"
        kill -TERM "$PROXY_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$PROXY_PID" 2>/dev/null
    fi
    [ -n "$PROXY_PID" ] && wait "$PROXY_PID" 2>/dev/null
    PROXY_PID=""
    if [ -n "$LLAMA_PID" ]; then
        say "stopping the llama server (pid $LLAMA_PID)"
        llama_stop
    fi
}
# Ctrl-C and SIGTERM: stop both servers and end with exit 0, quietly.
stopped() {
    echo >&2
    stop_all
    say "stopped."
    exit 0
}
trap stopped INT TERM
trap stop_all EXIT

# Refuse at once, before any long set-up step.
require_free_port "$PROXY_PORT" "the demo proxy (DEMO_PORT)" || exit 1
require_free_port "$LLAMA_PORT" "the llama server (LLAMA_PORT)" || exit 1

SWIFT="${SWIFT:-swift}"
if ! command -v "$SWIFT" >/dev/null 2>&1; then
    echo "error: swift not found; install Swift 6 (https://www.swift.org/install/)." >&2
    exit 1
fi
BIN_DIR="$("$SWIFT" build --show-bin-path)" || exit 1
PROXY_BIN="$BIN_DIR/hydracodedone"
if [ ! -x "$PROXY_BIN" ]; then
    say "building the proxy (swift build, about a minute)"
    "$SWIFT" build || exit 1
fi

llama_setup || exit 1
llama_start "$LLAMA_PORT" "$LLAMA_LOG" || exit 1
# The other port could have been taken while we were setting up.
require_free_port "$PROXY_PORT" "the demo proxy (DEMO_PORT)" || exit 1

# The proxy runs in .work/demo with a clean environment, so neither a .env in the repo root (your
# own upstream) nor variables exported in this shell change the demo.
# Its log (stderr, one line per event) goes straight to this terminal.
(
    cd "$WORK" &&
    exec env -i PATH="$PATH" HOME="${HOME:-/}" LANG=C.UTF-8 \
        HOST=127.0.0.1 PORT="$PROXY_PORT" \
        OPENAI_BASE_URL="http://127.0.0.1:$LLAMA_PORT/v1" OPENAI_API_KEY="not-needed" \
        PRIMARY_MODEL_NAME="$LLAMA_MODEL_ALIAS" CRITIQUE_MODEL_NAME="$LLAMA_MODEL_ALIAS" \
        PROXY_MODEL_NAME=hydracodedone LOG_LEVEL=INFO \
        "$PROXY_BIN"
) &
PROXY_PID=$!
for _ in $(seq 1 100); do
    _http_ok "http://127.0.0.1:$PROXY_PORT/health" && break
    kill -0 "$PROXY_PID" 2>/dev/null || { say "the proxy exited during start-up (see above)."; exit 1; }
    sleep 0.1
done
_http_ok "http://127.0.0.1:$PROXY_PORT/health" || { say "the proxy did not answer /health."; exit 1; }

BASE="http://127.0.0.1:$PROXY_PORT/v1"
cat <<EOF

================================================================================
 HydraCodeDone demo: critique pipeline running, no Ollama, no API key.

   base URL : $BASE        (model "hydracodedone", any API key)
   upstream : llama.cpp on http://127.0.0.1:$LLAMA_PORT/v1, primary = critique = $LLAMA_MODEL_ALIAS
              (a tiny base model: expect fluent nonsense; the pipeline is the point)

 Stream an answer (paste into another terminal):

   curl -N $BASE/chat/completions -H 'Content-Type: application/json' -d '{"model":"hydracodedone","stream":true,"max_tokens":48,"messages":[{"role":"user","content":"Write a haiku about the sea."}]}'

 Or with the openai SDK (installed in .venv-e2e; paste into a shell):

$LLAMA_VENV/bin/python - <<'PYEOF'
from openai import OpenAI
client = OpenAI(base_url="$BASE", api_key="unused")
stream = client.chat.completions.create(model="hydracodedone", stream=True, max_tokens=48,
    messages=[{"role": "user", "content": "Write a haiku about the sea."}])
for chunk in stream:
    if chunk.choices:
        print(chunk.choices[0].delta.content or "", end="", flush=True)
print()
PYEOF

 Always send max_tokens: without it llama.cpp generates until its 2,048-token context is full.
 The proxy's stage lines for each request appear below. Ctrl-C stops everything.
================================================================================

EOF

# Wait for Ctrl-C (the INT trap) or for either server to end.
wait -n "$PROXY_PID" "$LLAMA_PID"
status=$?
# Ctrl-C sends SIGINT to every process of the terminal's foreground group at once: the proxy exits
# 0 on SIGINT, possibly before this shell has run its INT trap (and a shell started with SIGINT
# ignored, e.g. in the background, never runs it). A server that ended with 0 or by SIGINT (130)
# was stopped, not crashed.
if [ "$status" -eq 0 ] || [ "$status" -eq 130 ]; then
    stopped
fi
if ! kill -0 "$LLAMA_PID" 2>/dev/null; then
    say "the llama server stopped unexpectedly (exit $status); last lines of .work/demo/llama-server.log:"
    tail -n 15 "$LLAMA_LOG" >&2
else
    say "the proxy stopped unexpectedly (exit $status; its log is above)."
fi
exit 1
