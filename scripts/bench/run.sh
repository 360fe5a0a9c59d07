#!/usr/bin/env bash
# make bench — performance figures for the proxy against nginx and against the ideal, on loopback.
# Not part of `make test`: it prints figures, it does not pass or fail on them (it fails only when
# it cannot measure). About 4 minutes.
#
#   (1) GET /health: wrk -t2 -c64 vs nginx `return 200`; RSS with 1,000 idle keep-alive connections
#   (2) non-streamed pipeline (2 upstream calls), -c64, fast nginx upstream; vs nginx auth_request + proxy_pass
#   (3) added latency per upstream call at -c1: (proxy p50 - upstream p50) / 2
#   (4) 64 concurrent streams through a token-paced fake-upstream: first-token excess, inter-event gaps
#   (5) 1,000 concurrent open streams: RSS and threads
#   (6) idle RSS, RSS after all the load, start-up time to first 200 on /health
#   (7) header trickle: CPU for one 60 KiB header block sent one `a:` line per TCP segment (and 15 KiB)
#   (8) backpressure: RSS of a second proxy (critique off) with 1, then 100 streams whose clients read nothing
#   (9) https upstream: a second proxy (critique on) calling the nginx upstream over TLS (throwaway CA made with
#       the openssl CLI, trusted through UPSTREAM_CA_FILE) vs nginx making the same two calls over TLS:
#       pipeline req/s, p50/p99 and CPU per request at -c64, CPU per request at -c1; then, repointed (SIGHUP)
#       at the token-paced fake behind nginx's TLS: 64 concurrent streams' TTFT, RSS with 1,000 open streams, settled RSS.
#       nginx's auth_request call never keeps its upstream connection (a TLS handshake per request), so a
#       stricter run with that call as HEAD (both calls kept alive) is printed beside it. Printed as a second
#       table with the http figures of the same run (sections 2, 3, 4, 5) beside the https ones.
#   (10) parallel drafts: stream TTFT with hydra.drafts 3 against 1 on the token-paced fake (drafts run at once)
#
# Knobs: BENCH_DURATION (seconds per wrk run, default 10), BENCH_LOG_LEVEL (proxy LOG_LEVEL for the
# main figures, default WARNING: nginx runs with access_log off), BENCH_KEEP=1 keeps the work dir
# (logs, wrk output, results.jsonl), BENCH_NO_BUILD=1 uses existing release binaries even if stale,
# BENCH_ONLY=a,b runs only those sections (startup health pipeline latency info streams drafts openstreams
# trickle backpressure https), BENCH_BP_STREAMS (100) / BENCH_BP_IDLE (8 s) / BENCH_BP_RSS_CAP_MIB (4096:
# the backpressure phase stops early past that growth), BENCH_TRICKLE_KIB ("60 15"), BENCH_TLS_KEY (ec:
# P-256, default, or rsa: 2048 bits; the generated certificates' keys), BENCH_HTTPS_C1_DURATION (3 s per
# -c1 round of section 9).
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${BENCH_DURATION:-10}
C1_DURATION=${BENCH_C1_DURATION:-2}
LOG_LEVEL_MAIN=${BENCH_LOG_LEVEL:-WARNING}
BENCH_DIR=scripts/bench
SCRATCH=.build-release
BIN_DIR=$SCRATCH/release
VENV=.venv-bench
T_START=$(date +%s)
BENCH_ONLY=${BENCH_ONLY:-}
SECTIONS=" startup health pipeline latency info streams drafts openstreams trickle backpressure https "
for s in ${BENCH_ONLY//,/ }; do
    case "$SECTIONS" in *" $s "*) ;; *) echo "bench: unknown section '$s' in BENCH_ONLY (known:$SECTIONS)" >&2; exit 2 ;; esac
done
want() { [ -z "$BENCH_ONLY" ] || case ",$BENCH_ONLY," in *",$1,"*) true ;; *) false ;; esac; }

say() { printf '[bench %3ss] %s\n' "$(( $(date +%s) - T_START ))" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ------------------------------------------------------------------ tools
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
# https upstreams link OpenSSL: the build needs its development files (as in the Dockerfile).
compgen -G '/usr/lib/*/libssl.so' >/dev/null || [ -e /usr/lib/libssl.so ] || missing+=(libssl-dev)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
    say "installing ${missing[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -V 2>&1 | grep -q http_auth_request || die "this nginx lacks the auth_request module (install nginx-light)"
"$NGINX" -V 2>&1 | grep -q http_ssl_module || die "this nginx lacks the ssl module (install nginx-light)"

# ------------------------------------------------------------------ release binaries
stale=""
for b in hydracodedone fake-upstream; do
    if [ ! -x "$BIN_DIR/$b" ] || [ -n "$(find Sources Package.swift -newer "$BIN_DIR/$b" -print -quit)" ]; then stale=1; fi
done
if [ -n "$stale" ] && [ "${BENCH_NO_BUILD:-}" = 1 ] && [ -x "$BIN_DIR/hydracodedone" ] && [ -x "$BIN_DIR/fake-upstream" ]; then
    say "release binaries are older than Sources/: using them anyway (BENCH_NO_BUILD=1)"
elif [ -n "$stale" ]; then
    # Two Swift builds on 2 cores take twice as long each: let another one finish first.
    waited=0
    while pgrep -f "swift-build" >/dev/null && [ $waited -lt 600 ]; do
        [ $waited = 0 ] && say "another Swift build is running; waiting for it (up to 10 min)"
        sleep 5; waited=$((waited + 5))
    done
    say "building release binaries into $SCRATCH"
    # --static-swift-stdlib: measure the binary the Dockerfile ships.
    swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" >&2 || die "release build failed"
fi
PROXY_BIN=$(pwd)/$BIN_DIR/hydracodedone
FAKE_BIN=$(pwd)/$BIN_DIR/fake-upstream

# ------------------------------------------------------------------ python venv
if [ ! -f "$VENV/.installed" ] || [ "$BENCH_DIR/requirements.txt" -nt "$VENV/.installed" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$BENCH_DIR/requirements.txt" >&2
    touch "$VENV/.installed"
fi
PY=$(pwd)/$VENV/bin/python
BENCH_PY=$(pwd)/$BENCH_DIR/bench.py
BENCH="$PY $BENCH_PY"

# ------------------------------------------------------------------ work dir, cleanup
WORK=$(mktemp -d -t hydra-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-}" = 1 ] || [ $rc != 0 ]; then
        say "work dir kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

record() { # KEY JSON: append {"key": KEY, ...JSON} to the results
    "$PY" -c 'import json,sys; o=json.loads(sys.argv[2] or "{}"); o["key"]=sys.argv[1]; print(json.dumps(o))' "$1" "$2" >> "$RESULTS"
}
proxy_alive() {
    kill -0 "$PROXY_PID" 2>/dev/null && return 0
    $BENCH table "$RESULTS" || true
    die "the proxy died; the end of its log: $(tail -5 "$WORK/proxy.log")"
}
rss_point() { # LABEL: remember the proxy's RSS after a phase
    local j; j=$($BENCH proc "$PROXY_PID"); record "rss_$1" "$j"
    RSS_TIMELINE+="$1=$("$PY" -c 'import json,sys; print(round(json.loads(sys.argv[1])["rss_kib"]/1024,1))' "$j") "
}
RSS_TIMELINE=""

wrk_run() { # KEY THREADS CONNS SECONDS URL [BODY]; CPU_PID=pid adds the CPU that process tree spent per request;
    # UP_CONNS=1 adds the connections the nginx upstream accepted per request meanwhile (its stub_status)
    local key=$1 t=$2 c=$3 d=$4 url=$5 body=${6:-} out line before after acc0 acc1
    out=$WORK/wrk-$key.txt
    [ -z "${UP_CONNS:-}" ] || acc0=$($BENCH accepts "$UP_PORT")
    [ -z "${CPU_PID:-}" ] || before=$($BENCH cpu "$CPU_PID")
    BENCH_BODY="$body" wrk -t"$t" -c"$c" -d"${d}s" --timeout 5s -s "$BENCH_DIR/wrk.lua" "$url" > "$out" 2>&1 || true
    [ -z "${CPU_PID:-}" ] || after=$($BENCH cpu "$CPU_PID")
    [ -z "${UP_CONNS:-}" ] || acc1=$($BENCH accepts "$UP_PORT")
    line=$(grep '^BENCH ' "$out" | tail -1 | cut -d' ' -f2-)
    [ -n "$line" ] || line='{"error":"wrk printed no result"}'
    [ -z "${CPU_PID:-}" ] || line=$($BENCH merge-cpu "$line" "$before" "$after")
    [ -z "${UP_CONNS:-}" ] || line=$($BENCH merge-conns "$line" "$acc0" "$acc1")
    [ "$key" = warmup ] || record "$key" "$line"
    say "$key: $(grep -E 'Requests/sec' "$out" | tr -s ' ')$(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' ' | sed 's/^/ | /' | tr -d '\n')"
    if grep -qE 'Non-2xx|Socket errors' "$out"; then say "  !! $key: $(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' ' | tr '\n' ' ')"; fi
}

# ------------------------------------------------------------------ start everything
PORTS=($($BENCH ports 12))
UP_PORT=${PORTS[0]} FRONT_PORT=${PORTS[1]} FAKE_PORT=${PORTS[2]} PROXY_PORT=${PORTS[3]} INFO_PORT=${PORTS[4]} BP_PORT=${PORTS[5]}
UP_TLS_PORT=${PORTS[6]} FRONT_TLS_PORT=${PORTS[7]} FAKE_TLS_PORT=${PORTS[8]} HTTPS_PORT=${PORTS[9]} STREAM_TLS_PORT=${PORTS[10]} STREAM_HTTP_PORT=${PORTS[11]}
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average: $LOADAVG on $(nproc) cores; ports: upstream=$UP_PORT nginx=$FRONT_PORT fake=$FAKE_PORT proxy=$PROXY_PORT"

# A throwaway CA and a server certificate it signs (localhost and 127.0.0.1), for the TLS upstreams:
# the nginx upstream's TLS port and fake-upstream's. Nothing outside the work dir trusts them.
TLS_DIR=$WORK/tls
mkdir -p "$TLS_DIR"
case "${BENCH_TLS_KEY:-ec}" in
    ec) NEWKEY=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) KEY_USAGE=digitalSignature ;;
    rsa) NEWKEY=(-newkey rsa:2048) KEY_USAGE=digitalSignature,keyEncipherment ;;
    *) die "BENCH_TLS_KEY must be ec or rsa" ;;
esac
{
    openssl req -x509 "${NEWKEY[@]}" -nodes -days 2 -subj "/CN=HydraCodeDone bench CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" &&
    openssl req "${NEWKEY[@]}" -nodes -subj "/CN=localhost" -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" &&
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
        "keyUsage=critical,$KEY_USAGE" "extendedKeyUsage=serverAuth" > "$TLS_DIR/server.ext" &&
    openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" -CAcreateserial \
        -days 2 -extfile "$TLS_DIR/server.ext" -out "$TLS_DIR/server.pem" &&
    openssl verify -CAfile "$TLS_DIR/ca.pem" -verify_hostname localhost "$TLS_DIR/server.pem"
} > "$WORK/openssl.log" 2>&1 || die "could not make the bench certificates: $(tail -5 "$WORK/openssl.log")"

start_nginx() { # NAME PORT
    sed -e "s|@WORK@|$WORK|g" -e "s|@PORT@|$2|g" -e "s|@UP_PORT@|$UP_PORT|g" -e "s|@TLS_PORT@|$UP_TLS_PORT|g" \
        -e "s|@UP_TLS_PORT@|$UP_TLS_PORT|g" -e "s|@TLS_DIR@|$TLS_DIR|g" \
        -e "s|@FAKE_PORT@|$FAKE_PORT|g" -e "s|@STREAM_TLS_PORT@|$STREAM_TLS_PORT|g" -e "s|@STREAM_HTTP_PORT@|$STREAM_HTTP_PORT|g" "$BENCH_DIR/nginx-$1.conf" > "$WORK/nginx-$1.conf"
    "$NGINX" -p "$WORK" -e "$WORK/nginx-$1.error.log" -c "$WORK/nginx-$1.conf" -g 'daemon off;' &
    PIDS+=($!)
}
start_nginx upstream "$UP_PORT"
start_nginx front "$FRONT_PORT"
FRONT_PID=$!
"$FAKE_BIN" --host 127.0.0.1 --port "$FAKE_PORT" --tls-cert "$TLS_DIR/server.pem" --tls-key "$TLS_DIR/server.key" \
    --tls-port "$FAKE_TLS_PORT" > "$WORK/fake.log" 2>&1 &
PIDS+=($!)
FAKE_PID=$!
$BENCH wait-http "$UP_PORT" /v1/models 10 || die "nginx upstream did not start: $(cat "$WORK"/nginx-upstream.error.log)"
$BENCH wait-http "$FRONT_PORT" /health 10 || die "nginx did not start: $(cat "$WORK"/nginx-front.error.log)"
$BENCH wait-http "$FAKE_PORT" /__stats 10 || die "fake-upstream did not start: $(cat "$WORK"/fake.log)"
if want https; then
    start_nginx front-tls "$FRONT_TLS_PORT"
    FRONT_TLS_PID=$!
    $BENCH wait-http "$FRONT_TLS_PORT" /health 10 || die "nginx (TLS front) did not start: $(cat "$WORK"/nginx-front-tls.error.log)"
    # Both TLS upstreams answer, with a certificate that verifies for localhost.
    for p in "$UP_TLS_PORT" "$FAKE_TLS_PORT"; do
        curl -sf -m 5 --cacert "$TLS_DIR/ca.pem" -o /dev/null "https://localhost:$p/v1/models" \
            || die "the TLS upstream on port $p does not answer https://localhost:$p/v1/models with the bench CA: $(cat "$WORK/fake.log" "$WORK/nginx-upstream.error.log")"
    done
fi

# The proxy reads its configuration from .env in its working directory (so a SIGHUP can repoint
# it later) and from nothing else: its environment is emptied.
mkdir -p "$WORK/proxy"
write_env() { # BASE_URL
    cat > "$WORK/proxy/.env" <<EOF
HOST=127.0.0.1
PORT=$PROXY_PORT
OPENAI_BASE_URL=$1
PRIMARY_MODEL_NAME=bench-primary
CRITIQUE_MODEL_NAME=bench-critique
LOG_LEVEL=$LOG_LEVEL_MAIN
MAX_CONCURRENT_REQUESTS=1100
EOF
}
write_env "http://127.0.0.1:$UP_PORT/v1"
proxy_env=(env -i "PATH=$PATH" "HOME=${HOME:-/root}")

# (6) start-up: spawn to first 200, 5 times, each on a fresh port.
if want startup; then
    say "start-up time (5 spawns)"
    record startup "$(cd "$WORK/proxy" && "${proxy_env[@]}" "$PY" "$BENCH_PY" startup "$PROXY_BIN" 5 || true)"
fi

(cd "$WORK/proxy" && exec "${proxy_env[@]}" "$PROXY_BIN") > "$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
PIDS+=($PROXY_PID)
$BENCH wait-http "$PROXY_PORT" /health 10 || die "the proxy did not start: $(cat "$WORK/proxy.log")"
sleep 1
record idle "$($BENCH proc "$PROXY_PID")"
rss_point idle

# ------------------------------------------------------------------ (1) /health
if want health; then
    say "(1) GET /health, wrk -t2 -c64 -d${DURATION}s: proxy, then nginx"
    CPU_PID=$PROXY_PID wrk_run health_proxy 2 64 "$DURATION" "http://127.0.0.1:$PROXY_PORT/health"
    CPU_PID=$FRONT_PID wrk_run health_nginx 2 64 "$DURATION" "http://127.0.0.1:$FRONT_PORT/health"
    proxy_alive; rss_point health
    say "(1) 1,000 idle keep-alive connections"
    record idle_conns "$($BENCH idle-conns "$PROXY_PORT" 1000 "$PROXY_PID" || true)"
    proxy_alive; rss_point idleconns
fi

# ------------------------------------------------------------------ (2) pipeline
BODY='{"model":"hydracodedone","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Explain TCP slow start in one sentence."}]}'
check_chat() { # NAME PORT
    local out; out=$(curl -s -m 5 -w '\n%{http_code}' -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$2/v1/chat/completions" || true)
    [ "$(tail -1 <<<"$out")" = 200 ] && grep -q 'slow start grows' <<<"$out" || die "$1 did not answer the pipeline request: $out"
}
if want pipeline || want latency || want info; then
    check_chat proxy "$PROXY_PORT"
    check_chat nginx "$FRONT_PORT"
fi
if want pipeline; then
    say "(2) pipeline, wrk -t2 -c64 -d${DURATION}s (after 1 s warm-up each): proxy, then nginx"
    wrk_run warmup 2 64 1 "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$BODY"
    UP_CONNS=1 CPU_PID=$PROXY_PID wrk_run pipeline_proxy 2 64 "$DURATION" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$BODY"
    wrk_run warmup 2 64 1 "http://127.0.0.1:$FRONT_PORT/v1/chat/completions" "$BODY"
    UP_CONNS=1 CPU_PID=$FRONT_PID wrk_run pipeline_nginx 2 64 "$DURATION" "http://127.0.0.1:$FRONT_PORT/v1/chat/completions" "$BODY"
    proxy_alive; rss_point pipeline
fi

# ------------------------------------------------------------------ (3) -c1 latency
if want latency; then
    say "(3) one connection, wrk -t1 -c1 -d${C1_DURATION}s, 3 alternating rounds: proxy, nginx pipeline, upstream alone"
    for r in 1 2 3; do
        CPU_PID=$PROXY_PID wrk_run "c1_proxy_$r" 1 1 "$C1_DURATION" "http://127.0.0.1:$PROXY_PORT/v1/chat/completions" "$BODY"
        CPU_PID=$FRONT_PID wrk_run "c1_nginx_$r" 1 1 "$C1_DURATION" "http://127.0.0.1:$FRONT_PORT/v1/chat/completions" "$BODY"
        wrk_run "c1_direct_$r" 1 1 "$C1_DURATION" "http://127.0.0.1:$UP_PORT/v1/chat/completions" "$BODY"
    done
    proxy_alive
fi

# The default log level (INFO: a few lines per request) on a second, short-lived proxy.
if want info; then
    say "(2b) pipeline at LOG_LEVEL=INFO, 5 s"
    (cd "$WORK/proxy" && exec "${proxy_env[@]}" LOG_LEVEL=INFO "PORT=$INFO_PORT" "$PROXY_BIN") > "$WORK/proxy-info.log" 2>&1 &
    INFO_PID=$!
    PIDS+=($INFO_PID)
    $BENCH wait-http "$INFO_PORT" /health 10 || die "the INFO proxy did not start"
    wrk_run warmup 2 64 1 "http://127.0.0.1:$INFO_PORT/v1/chat/completions" "$BODY"
    wrk_run pipeline_proxy_info 2 64 5 "http://127.0.0.1:$INFO_PORT/v1/chat/completions" "$BODY"
    kill "$INFO_PID" 2>/dev/null || true
fi

# ------------------------------------------------------------------ (4) streaming
# SIGHUP makes a proxy re-read the .env just rewritten; wait until it answers from the fake.
await_repoint() { # PID PORT WHAT
    kill -HUP "$1"
    local out="" _
    for _ in $(seq 50); do
        out=$(curl -s -m 5 -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$2/v1/chat/completions" || true)
        if grep -q 'Answer from bench-critique' <<<"$out"; then return 0; fi
        sleep 0.1
    done
    die "after SIGHUP the $3 still does not use the fake-upstream: $out"
}
# Repoint the same proxy process at the token-paced fake-upstream with a SIGHUP reload.
if want streams || want drafts || want openstreams; then
    write_env "http://127.0.0.1:$FAKE_PORT/v1"
    await_repoint "$PROXY_PID" "$PROXY_PORT" proxy
fi

if want streams; then
    say "(4) one stream at a time x 8 (primary and critique: 20 tokens, 5 ms apart), direct then through the proxy"
    record streams_c1 "$($BENCH streams "$PROXY_PORT" "$FAKE_PORT" 1 8 20 5 5 || true)"
    say "(4) 64 concurrent streams x 4 rounds (primary and critique: 20 tokens, 5 ms apart), direct then through the proxy"
    record streams "$($BENCH streams "$PROXY_PORT" "$FAKE_PORT" 64 4 20 5 5 || true)"
    proxy_alive; rss_point streams
fi

# ------------------------------------------------------------------ (5) 1,000 open streams
# ------------------------------------------------------------------ (10) parallel drafts
if want drafts; then
    say "(10) 3 parallel drafts vs 1 (hydra.drafts), 8 streams at a time x 4 rounds, token-paced (20 tokens, 5 ms apart)"
    record drafts "$($BENCH drafts "$PROXY_PORT" "$FAKE_PORT" 4 8 20 5 5 || true)"
    proxy_alive
fi

if want openstreams; then
    say "(5) 1,000 concurrent open streams (primary silent for 60 s)"
    record open_streams "$($BENCH open-streams "$PROXY_PORT" "$FAKE_PORT" 1000 "$PROXY_PID" || true)"
    proxy_alive; rss_point openstreams
    say "(5) the same again: does RSS grow with each round, or stay where the first round left it?"
    record open_streams_2 "$($BENCH open-streams "$PROXY_PORT" "$FAKE_PORT" 1000 "$PROXY_PID" || true)"
    proxy_alive; rss_point openstreams2
fi

# ------------------------------------------------------------------ (6) after the load
sleep 3
record final "$($BENCH proc "$PROXY_PID")"
rss_point final

# ------------------------------------------------------------------ (7) header trickle
# After `final`, so it does not count in "RSS after all the load". The proxy is otherwise idle: the
# CPU it spends meanwhile is this one connection's.
if want trickle; then
    TRICKLE_KIB=${BENCH_TRICKLE_KIB:-60 15}
    say "(7) header trickle: GET /health with a header block of ${TRICKLE_KIB// / KiB, then } KiB, one 'a:' line per TCP segment"
    # shellcheck disable=SC2086
    record trickle "$($BENCH trickle "$PROXY_PORT" "$PROXY_PID" $TRICKLE_KIB || true)"
    proxy_alive
fi

# ------------------------------------------------------------------ (8) backpressure
# A second proxy, critique off, straight at the fake-upstream: streams whose clients read nothing
# while the upstream pushes 4 KiB deltas as fast as it may.
if want backpressure; then
    BP_STREAMS=${BENCH_BP_STREAMS:-100}
    BP_IDLE=${BENCH_BP_IDLE:-8}
    mkdir -p "$WORK/proxy-bp"
    printf '%s\n' HOST=127.0.0.1 "PORT=$BP_PORT" "OPENAI_BASE_URL=http://127.0.0.1:$FAKE_PORT/v1" PRIMARY_MODEL_NAME=bench-bp \
        CRITIQUE_MODEL_NAME= "LOG_LEVEL=$LOG_LEVEL_MAIN" MAX_CONCURRENT_REQUESTS=1100 > "$WORK/proxy-bp/.env"
    (cd "$WORK/proxy-bp" && exec "${proxy_env[@]}" "$PROXY_BIN") > "$WORK/proxy-bp.log" 2>&1 &
    BP_PID=$!
    PIDS+=($BP_PID)
    $BENCH wait-http "$BP_PORT" /health 10 || die "the backpressure proxy did not start: $(cat "$WORK/proxy-bp.log")"
    say "(8) backpressure (critique off, 4 KiB deltas, 128 MiB per stream): 1 client that reads nothing for 4 s, then $BP_STREAMS for ${BP_IDLE} s"
    record backpressure "$($BENCH backpressure "$BP_PORT" "$FAKE_PORT" "$BP_PID" bench-bp 1 4 "$BP_STREAMS" "$BP_IDLE" || true)"
    kill -0 "$BP_PID" 2>/dev/null || say "  !! the backpressure proxy died: $(tail -3 "$WORK/proxy-bp.log")"
    kill "$BP_PID" 2>/dev/null || true
fi

# ------------------------------------------------------------------ (9) https upstream
# A second proxy process, critique on, whose upstream is https: first the nginx upstream's TLS port
# (the same canned completion as the http figures), against nginx making the same two calls over
# TLS; then, repointed with a SIGHUP, the token-paced fake behind nginx's TLS for the streaming figures.
if want https; then
    mkdir -p "$WORK/proxy-https"
    write_https_env() { # BASE_URL
        printf '%s\n' HOST=127.0.0.1 "PORT=$HTTPS_PORT" "OPENAI_BASE_URL=$1" "UPSTREAM_CA_FILE=$TLS_DIR/ca.pem" \
            PRIMARY_MODEL_NAME=bench-primary CRITIQUE_MODEL_NAME=bench-critique "LOG_LEVEL=$LOG_LEVEL_MAIN" \
            MAX_CONCURRENT_REQUESTS=1100 > "$WORK/proxy-https/.env"
    }
    write_https_env "https://localhost:$UP_TLS_PORT/v1"
    (cd "$WORK/proxy-https" && exec "${proxy_env[@]}" "$PROXY_BIN") > "$WORK/proxy-https.log" 2>&1 &
    HTTPS_PID=$!
    PIDS+=($HTTPS_PID)
    $BENCH wait-http "$HTTPS_PORT" /health 10 || die "the https proxy did not start: $(cat "$WORK/proxy-https.log")"
    sleep 1
    record https_idle "$($BENCH proc "$HTTPS_PID")"
    https_alive() {
        kill -0 "$HTTPS_PID" 2>/dev/null && return 0
        $BENCH table "$RESULTS" || true
        die "the https proxy died; the end of its log: $(tail -5 "$WORK/proxy-https.log")"
    }
    fallbacks() { # the https proxy's critique fallbacks so far (a failed TLS call would show here, not as a non-200)
        curl -s -m 5 "http://127.0.0.1:$HTTPS_PORT/metrics" | awk '$1 == "hydra_critique_fallbacks_total" { print $2 }'
    }
    check_chat "https proxy" "$HTTPS_PORT"
    check_chat "nginx (TLS)" "$FRONT_TLS_PORT"
    curl -s -m 5 -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$FRONT_TLS_PORT/head/v1/chat/completions" | grep -q 'slow start grows' \
        || die "nginx (TLS, first call HEAD) did not answer the pipeline request"
    [ "$(fallbacks)" = 0 ] || die "the https proxy fell back to the draft (the critique call over TLS failed): $(tail -5 "$WORK/proxy-https.log")"

    say "(9) https pipeline, wrk -t2 -c64 -d${DURATION}s (after 1 s warm-up each): https proxy, then nginx over TLS"
    wrk_run warmup 2 64 1 "http://127.0.0.1:$HTTPS_PORT/v1/chat/completions" "$BODY"
    UP_CONNS=1 CPU_PID=$HTTPS_PID wrk_run https_pipeline_proxy 2 64 "$DURATION" "http://127.0.0.1:$HTTPS_PORT/v1/chat/completions" "$BODY"
    wrk_run warmup 2 64 1 "http://127.0.0.1:$FRONT_TLS_PORT/v1/chat/completions" "$BODY"
    UP_CONNS=1 CPU_PID=$FRONT_TLS_PID wrk_run https_pipeline_nginx 2 64 "$DURATION" "http://127.0.0.1:$FRONT_TLS_PORT/v1/chat/completions" "$BODY"
    # nginx's auth_request call opens a new upstream connection per request (see nginx-front-tls.conf):
    # the same with that first call as HEAD, which nginx keeps alive.
    say "(9) nginx over TLS, first call HEAD (both upstream connections kept alive)"
    wrk_run warmup 2 64 1 "http://127.0.0.1:$FRONT_TLS_PORT/head/v1/chat/completions" "$BODY"
    UP_CONNS=1 CPU_PID=$FRONT_TLS_PID wrk_run https_pipeline_nginx_head 2 64 "$DURATION" "http://127.0.0.1:$FRONT_TLS_PORT/head/v1/chat/completions" "$BODY"
    https_alive
    HTTPS_C1_DURATION=${BENCH_HTTPS_C1_DURATION:-3}
    say "(9) https, one connection, wrk -t1 -c1 -d${HTTPS_C1_DURATION}s, 3 alternating rounds: https proxy, nginx over TLS"
    for r in 1 2 3; do
        UP_CONNS=1 CPU_PID=$HTTPS_PID wrk_run "https_c1_proxy_$r" 1 1 "$HTTPS_C1_DURATION" "http://127.0.0.1:$HTTPS_PORT/v1/chat/completions" "$BODY"
        UP_CONNS=1 CPU_PID=$FRONT_TLS_PID wrk_run "https_c1_nginx_$r" 1 1 "$HTTPS_C1_DURATION" "http://127.0.0.1:$FRONT_TLS_PORT/v1/chat/completions" "$BODY"
    done
    https_alive
    n=$(fallbacks || true)
    record https_fallbacks "{\"fallbacks\": ${n:-null}}"

    # Repoint it at the token-paced fake behind nginx's TLS (as a cloud API's TLS terminator would
    # be; fake-upstream's own TLS front relays in the fake's process and would share its cores).
    # Scripts reset: an earlier section may have left a slow one.
    curl -s -m 5 -X DELETE "http://127.0.0.1:$FAKE_PORT/__scripts" > /dev/null
    write_https_env "https://localhost:$STREAM_TLS_PORT/v1"
    await_repoint "$HTTPS_PID" "$HTTPS_PORT" "https proxy (the fake behind nginx's TLS)"
    say "(9) https: 64 concurrent streams x 4 rounds (primary and critique: 20 tokens, 5 ms apart); 'direct' is plain http to the fake"
    record https_streams "$($BENCH streams "$HTTPS_PORT" "$FAKE_PORT" 64 4 20 5 5 || true)"
    https_alive
    # Like for like: the same proxy through the same nginx hop, without TLS (separates TLS's cost
    # from the hop's, which the http section's direct-to-fake figures do not have).
    write_https_env "http://127.0.0.1:$STREAM_HTTP_PORT/v1"
    await_repoint "$HTTPS_PID" "$HTTPS_PORT" "https proxy (the fake behind nginx, plain)"
    say "(9) the same 64 streams x 4 through the same nginx hop without TLS (like-for-like reference)"
    record https_streams_plain_hop "$($BENCH streams "$HTTPS_PORT" "$FAKE_PORT" 64 4 20 5 5 || true)"
    write_https_env "https://localhost:$STREAM_TLS_PORT/v1"
    kill -HUP "$HTTPS_PID"
    sleep 0.5
    https_alive
    say "(9) https: 1,000 concurrent open streams (primary silent for 60 s)"
    record https_open_streams "$($BENCH open-streams "$HTTPS_PORT" "$FAKE_PORT" 1000 "$HTTPS_PID" || true)"
    https_alive
    sleep 3
    record https_final "$($BENCH proc "$HTTPS_PID")"
    kill "$HTTPS_PID" 2>/dev/null || true
fi

echo
echo "HydraCodeDone bench — $(nproc) cores, load average before measuring $LOADAVG; proxy LOG_LEVEL=$LOG_LEVEL_MAIN, wrk ${DURATION}s runs"
if awk -v l="${LOADAVG%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    echo "WARNING: the machine was busy before the bench started (load average ${LOADAVG%% *} on $(nproc) cores): latency and throughput figures move with that load."
fi
$BENCH table "$RESULTS"
echo "proxy RSS (MiB) after each phase: $RSS_TIMELINE"
say "done"
