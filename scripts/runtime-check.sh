#!/usr/bin/env bash
# make runtime-check — builds the Dockerfile's runtime stages around a host-built release binary
# (target runtime-prebuilt = runtime-base + that binary; the shipped target `runtime` is
# runtime-base + the build stage's binary) and checks that the container actually works:
#   /health, a chat completion (JSON and SSE) through the container to a fake upstream on the
#   host, the image's own HEALTHCHECK, a non-root user, the CA bundle, and no missing library.
#
# Needs root (apt-get, podman). No registry is contacted: the base image named by the runtime
# stage is made with debootstrap from the Debian mirror apt already uses, imported under that
# exact name and kept for later runs. Network traffic of the checks stays on loopback.
#
# Environment: SWIFT (swift), DEBIAN_MIRROR (default: read from apt's sources),
#              RUNTIME_CHECK_KEEP=1 keeps the temp dir and the container for inspection,
#              RUNTIME_CHECK_SKIP_BUILD=1 reuses .build/prebuilt/hydracodedone and the release
#              fake-upstream from an earlier run (for iterating on the image only).
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
IMAGE=localhost/hydracodedone:runtime-check
CONTAINER=hydracodedone-runtime-check-$$

say() { printf 'runtime-check: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; echo "runtime-check: 0 passed, 1 failed"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (apt-get, podman); run as root or under sudo"

# ---------------------------------------------------------------------------------------------
# Tools
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing+=(runc)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
command -v curl >/dev/null || missing+=(curl)
command -v strip >/dev/null || missing+=(binutils)
command -v python3 >/dev/null || missing+=(python3)
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hydracodedone-runtime-check.XXXXXX")
UPSTREAM_PID=""
cleanup() {
    if [ "${RUNTIME_CHECK_KEEP:-0}" != 1 ]; then
        podman rm -f -t 2 "$CONTAINER" >/dev/null 2>&1 || true
    fi
    if [ -n "$UPSTREAM_PID" ]; then kill "$UPSTREAM_PID" 2>/dev/null || true; wait "$UPSTREAM_PID" 2>/dev/null || true; fi
    if [ "${RUNTIME_CHECK_KEEP:-0}" = 1 ]; then say "kept $WORK and container $CONTAINER"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# podman 4.x here: crun fails ("cgroups in hybrid mode not supported") and raising RLIMIT_NOFILE
# is not permitted, so use runc and ulimits the sandbox allows.
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"

# ---------------------------------------------------------------------------------------------
# Base image: the exact name the runtime stage starts FROM, made locally when absent.
base=$(awk 'toupper($1)=="FROM" && tolower($3)=="as" && $4=="runtime-base" {print $2}' Dockerfile)
[ -n "$base" ] || die "Dockerfile has no 'FROM <image> AS runtime-base' stage"
case "$base" in
    */*/*) base_ref=$base ;;
    */*)   base_ref=docker.io/$base ;;
    *)     base_ref=docker.io/library/$base ;;
esac
case "$base_ref" in
    docker.io/library/debian:*) suite=${base_ref##*:}; suite=${suite%%-*} ;;
    *) die "runtime stage starts FROM $base: only debian:<suite>[-slim] can be made with debootstrap" ;;
esac

apt_mirror() {
    # First URI of a plain 'deb' entry for the suite, from apt's one-line and deb822 sources.
    local s=$1 f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
            awk -v s="$s" '$1=="deb" && $3==s {print $2; exit}'
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v s="$s" 'BEGIN{RS=""; FS="\n"}
            { types=""; uris=""; suites=""; enabled="yes"
              for (i=1;i<=NF;i++) { line=$i; if (line ~ /^[ \t]*#/) continue
                  k=line; sub(/:.*/,"",k); v=line; sub(/^[^:]*:[ \t]*/,"",v)
                  if (k=="Types") types=v; else if (k=="URIs") uris=v
                  else if (k=="Suites") suites=v; else if (k=="Enabled") enabled=v }
              if (enabled=="no" || (" " types " ") !~ / deb /) next
              if ((" " suites " ") ~ (" " s " ")) { split(uris,u," "); print u[1]; exit } }' "$f"
    done
}

if podman image exists "$base_ref"; then
    say "base image $base_ref present"
else
    mirror=${DEBIAN_MIRROR:-$(apt_mirror "$suite" | head -n1)}
    [ -n "$mirror" ] || die "no Debian mirror for '$suite' in apt's sources; set DEBIAN_MIRROR"
    say "making $base_ref: debootstrap --variant=minbase $suite from $mirror (about a minute)"
    debootstrap --variant=minbase "$suite" "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
    tar -C "$WORK/rootfs" --numeric-owner -c . |
        podman import --change 'CMD ["/bin/bash"]' - "$base_ref" >/dev/null 2>"$WORK/import.log" ||
        { cat "$WORK/import.log" >&2; die "podman import failed"; }
    rm -rf "$WORK/rootfs"
fi

# ---------------------------------------------------------------------------------------------
# The release binary, built exactly like the Dockerfile's build stage.
BIN_DIR=$("$SWIFT" build -c release --static-swift-stdlib --show-bin-path)
if [ "${RUNTIME_CHECK_SKIP_BUILD:-0}" = 1 ] && [ -x .build/prebuilt/hydracodedone ] && [ -x "$BIN_DIR/fake-upstream" ]; then
    say "RUNTIME_CHECK_SKIP_BUILD=1: reusing .build/prebuilt/hydracodedone"
else
    say "swift build -c release --static-swift-stdlib --product hydracodedone"
    "$SWIFT" build -c release --static-swift-stdlib --product hydracodedone >"$WORK/build.log" 2>&1 ||
        { tail -n 40 "$WORK/build.log" >&2; die "release build failed"; }
    "$SWIFT" build -c release --static-swift-stdlib --product fake-upstream >>"$WORK/build.log" 2>&1 ||
        { tail -n 40 "$WORK/build.log" >&2; die "fake-upstream build failed"; }
    mkdir -p .build/prebuilt
    cp "$BIN_DIR/hydracodedone" .build/prebuilt/hydracodedone
    strip .build/prebuilt/hydracodedone
fi
say "binary: $(du -h .build/prebuilt/hydracodedone | cut -f1) stripped; shared libraries on this host:"
ldd .build/prebuilt/hydracodedone | awk '{print "    " $1}' >&2

# ---------------------------------------------------------------------------------------------
# The runtime stage, fed with that binary.
say "podman build --target runtime-prebuilt"
old_image=$(podman image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
podman build --pull=never --network host --format docker \
    --target runtime-prebuilt -t "$IMAGE" . >"$WORK/podman-build.log" 2>&1 ||
    { tail -n 40 "$WORK/podman-build.log" >&2; die "podman build failed"; }
# The previous run's image is now untagged: drop it (its cached layers stay in use).
if [ -n "$old_image" ] && [ "$old_image" != "$(podman image inspect -f '{{.Id}}' "$IMAGE")" ]; then
    podman rmi "$old_image" >/dev/null 2>&1 || true
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Fake upstream on the host (loopback).
"$BIN_DIR/fake-upstream" --host 127.0.0.1 --port 0 >"$WORK/upstream.out" 2>"$WORK/upstream.err" &
UPSTREAM_PID=$!
UPSTREAM=""
for _ in $(seq 100); do
    UPSTREAM=$(sed -n 's/^listening on \([0-9.]*:[0-9]*\).*/\1/p' "$WORK/upstream.out" | head -n1)
    [ -n "$UPSTREAM" ] && break
    kill -0 "$UPSTREAM_PID" 2>/dev/null || break
    sleep 0.1
done
[ -n "$UPSTREAM" ] || { cat "$WORK/upstream.err" >&2; die "fake-upstream did not start"; }
DRAFT="Draft answer from the primary model."
REFINED="Refined answer from the critique model."
curl -fsS -X PUT "http://$UPSTREAM/__scripts/rc-primary" -d "{\"content\":\"$DRAFT\"}" >/dev/null
curl -fsS -X PUT "http://$UPSTREAM/__scripts/rc-critique" -d "{\"content\":\"$REFINED\"}" >/dev/null

PORT=$(free_port)
say "running $IMAGE on 127.0.0.1:$PORT against the fake upstream at $UPSTREAM"
podman run -d --name "$CONTAINER" --network host \
    -e HOST=127.0.0.1 -e PORT="$PORT" \
    -e OPENAI_BASE_URL="http://$UPSTREAM/v1" -e OPENAI_API_KEY=sk-runtime-check \
    -e PRIMARY_MODEL_NAME=rc-primary -e CRITIQUE_MODEL_NAME=rc-critique \
    -e LOG_LEVEL=INFO -e HEARTBEAT_SECONDS=1 \
    "$IMAGE" >/dev/null 2>"$WORK/podman-run.log" ||
    { cat "$WORK/podman-run.log" >&2; die "podman run failed"; }
# (Without systemd podman logs that it cannot schedule periodic health checks; run them below.)

up=0
for _ in $(seq 150); do
    if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/health" 2>/dev/null; then up=1; break; fi
    [ "$(podman inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null)" = true ] || break
    sleep 0.2
done
if [ "$up" != 1 ]; then
    podman logs "$CONTAINER" >&2 || true
    notfound=$(podman run --rm --network none --entrypoint ldd "$IMAGE" /usr/local/bin/hydracodedone 2>&1 | grep 'not found' || true)
    [ -z "$notfound" ] || say "libraries missing in the image (add their packages to Configuration/runtime-packages.txt):"$'\n'"$notfound"
    die "the container did not answer /health (state: $(podman inspect -f '{{.State.Status}} exit={{.State.ExitCode}}' "$CONTAINER" 2>/dev/null))"
fi

# ---------------------------------------------------------------------------------------------
# Checks
PASSED=0; FAILED=0
pass() { PASSED=$((PASSED + 1)); say "PASS $1"; }
fail() { FAILED=$((FAILED + 1)); say "FAIL $1${2:+: $2}"; }

# 1. /health
code=$(curl -sS -o "$WORK/health.json" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/health" || true)
if [ "$code" = 200 ]; then pass "GET /health -> 200 $(head -c 80 "$WORK/health.json")"; else fail "GET /health" "HTTP $code"; fi

# 2. non-streamed chat completion through the container: primary draft, critique refines it
curl -fsS -X DELETE "http://$UPSTREAM/__requests" >/dev/null
: >"$WORK/chat.json"
code=$(curl -sS -o "$WORK/chat.json" -w '%{http_code}' --max-time 60 \
    -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/v1/chat/completions" \
    -d '{"model":"hydracodedone","messages":[{"role":"user","content":"Say hi"}]}' || true)
curl -fsS "http://$UPSTREAM/__requests" >"$WORK/requests.json" || echo '[]' >"$WORK/requests.json"
if why=$(python3 - "$WORK/chat.json" "$WORK/requests.json" "$DRAFT" "$REFINED" "$code" <<'EOF'
import json, sys
chat_path, req_path, draft, refined, code = sys.argv[1:]
if code != "200":
    sys.exit(f"HTTP {code or '(no answer)'}: {open(chat_path).read()[:300]}")
got = json.load(open(chat_path))["choices"][0]["message"]["content"]
if got != refined:
    sys.exit(f"content {got!r}, expected {refined!r}")
reqs = json.load(open(req_path))
models = [r["body"].get("model") for r in reqs]
if models != ["rc-primary", "rc-critique"]:
    sys.exit(f"upstream saw models {models}, expected primary then critique")
msgs = reqs[1]["body"]["messages"]
if not any(m.get("role") == "assistant" and m.get("content") == draft for m in msgs):
    sys.exit("critique request does not carry the primary draft")
auth = reqs[0]["headers"].get("authorization")
if auth != "Bearer sk-runtime-check":
    sys.exit(f"upstream got authorization {auth!r}")
EOF
); then pass "POST /v1/chat/completions (JSON): primary -> critique -> refined answer"
else fail "POST /v1/chat/completions (JSON)" "$why"; fi

# 3. streamed chat completion
: >"$WORK/stream.txt"
code=$(curl -sS -N -o "$WORK/stream.txt" -w '%{http_code}' --max-time 60 \
    -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/v1/chat/completions" \
    -d '{"model":"hydracodedone","stream":true,"messages":[{"role":"user","content":"Say hi"}]}' || true)
if why=$(python3 - "$WORK/stream.txt" "$REFINED" "$code" <<'EOF'
import json, sys
path, refined, code = sys.argv[1:]
raw = open(path).read()
if code != "200":
    sys.exit(f"HTTP {code or '(no answer)'}: {raw[:300]}")
datas = [l[6:] for l in raw.splitlines() if l.startswith("data: ")]
if not datas or datas[-1] != "[DONE]":
    sys.exit(f"stream does not end with data: [DONE]: {raw[-200:]!r}")
text = ""
for d in datas[:-1]:
    obj = json.loads(d)
    if "error" in obj:
        sys.exit(f"error event: {d}")
    for c in obj.get("choices", []):
        text += (c.get("delta") or {}).get("content") or ""
if text != refined:
    sys.exit(f"streamed content {text!r}, expected {refined!r}")
EOF
); then pass "POST /v1/chat/completions (stream): SSE deltas + [DONE]"
else fail "POST /v1/chat/completions (stream)" "$why"; fi

# 4. the image's own HEALTHCHECK: declared, passes now, and fails when nothing listens
hc=$(podman image inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE" 2>/dev/null || true)
if [ "$hc" != '["CMD","/usr/local/bin/hydracodedone","healthcheck"]' ]; then
    fail "HEALTHCHECK" "image declares $hc"
elif ! out=$(podman healthcheck run "$CONTAINER" 2>&1); then
    fail "HEALTHCHECK" "podman healthcheck run: $out"
elif podman exec -e PORT="$(free_port)" "$CONTAINER" /usr/local/bin/hydracodedone healthcheck >/dev/null 2>&1; then
    fail "HEALTHCHECK" "healthcheck exits 0 against a port where nothing listens"
else
    pass "HEALTHCHECK (podman healthcheck run: ${out:-healthy}; exits non-zero when nothing listens)"
fi

# 5. non-root: the server process (PID 1) and exec'd commands
uid_exec=$(podman exec "$CONTAINER" id -u 2>/dev/null || echo "?")
uid_pid1=$(podman exec "$CONTAINER" awk '/^Uid:/{print $2}' /proc/1/status 2>/dev/null || echo "?")
if [ "$uid_exec" != 0 ] && [ "$uid_exec" != "?" ] && [ "$uid_pid1" != 0 ] && [ "$uid_pid1" != "?" ]; then
    pass "runs as non-root (uid $uid_pid1)"
else
    fail "non-root" "id -u=$uid_exec, PID 1 uid=$uid_pid1"
fi

# 6. CA bundle for HTTPS upstreams
if podman exec "$CONTAINER" test -s /etc/ssl/certs/ca-certificates.crt; then
    pass "CA bundle /etc/ssl/certs/ca-certificates.crt present"
else
    fail "CA bundle" "/etc/ssl/certs/ca-certificates.crt missing or empty (ca-certificates in Configuration/runtime-packages.txt?)"
fi

# 7. every shared library resolves inside the image
if ! podman exec "$CONTAINER" ldd /usr/local/bin/hydracodedone >"$WORK/ldd.txt" 2>&1; then
    fail "libraries" "ldd failed: $(head -c 300 "$WORK/ldd.txt")"
elif grep -q 'not found' "$WORK/ldd.txt"; then
    fail "libraries" "missing in the image: $(grep 'not found' "$WORK/ldd.txt" | awk '{print $1}' | tr '\n' ' ')"
else
    pass "all $(grep -c '=>' "$WORK/ldd.txt") shared libraries resolve (ldd)"
fi

# 8. image metadata: port, entrypoint
meta=$(podman image inspect -f '{{json .Config.ExposedPorts}} {{json .Config.Entrypoint}} {{.Config.User}}' "$IMAGE")
case "$meta" in
    *'"3101/tcp"'*'["/usr/local/bin/hydracodedone"]'*) pass "EXPOSE 3101, ENTRYPOINT the binary, USER $(echo "$meta" | awk '{print $NF}')" ;;
    *) fail "image metadata" "$meta" ;;
esac

# 9. what was tested is what ships: `runtime` (the last stage, the default target) and
#    `runtime-prebuilt` both add exactly one COPY of the binary to runtime-base, and the build
#    stage compiles the binary with the same command as above.
stage_lines() {  # instructions of one stage, comments and blank lines dropped, one per line
    awk -v want="$1" '/^[[:space:]]*(#|$)/ {next}
        toupper($1)=="FROM" { cur = (tolower($3)=="as") ? $4 : "" }
        cur==want { print }' Dockerfile
}
last_stage=$(awk 'toupper($1)=="FROM" && tolower($3)=="as" {s=$4} END {print s}' Dockerfile)
shipped=$(stage_lines runtime); tested=$(stage_lines runtime-prebuilt)
if [ "$last_stage" != runtime ]; then
    fail "Dockerfile" "the last (default) stage is '$last_stage', not runtime"
elif [ "$(printf '%s\n' "$shipped" | sed -n 1p)" != "FROM runtime-base AS runtime" ] ||
     [ "$(printf '%s\n' "$shipped" | sed -n '2,$p')" != "COPY --from=build /out/hydracodedone /usr/local/bin/hydracodedone" ]; then
    fail "Dockerfile" "stage runtime is not runtime-base + the build stage's binary: $(printf '%s' "$shipped" | tr '\n' ';')"
elif [ "$(printf '%s\n' "$tested" | sed -n 1p)" != "FROM runtime-base AS runtime-prebuilt" ] ||
     [ "$(printf '%s\n' "$tested" | sed -n '2,$p')" != "COPY .build/prebuilt/hydracodedone /usr/local/bin/hydracodedone" ]; then
    fail "Dockerfile" "stage runtime-prebuilt is not runtime-base + the host binary: $(printf '%s' "$tested" | tr '\n' ';')"
elif ! grep -q 'swift build -c release --static-swift-stdlib --product hydracodedone' Dockerfile; then
    fail "Dockerfile" "the build stage no longer runs 'swift build -c release --static-swift-stdlib --product hydracodedone'"
else
    pass "shipped target 'runtime' = the tested runtime-base + the build stage's binary"
fi

if [ "$FAILED" -gt 0 ]; then
    say "container log (last 30 lines):"
    podman logs --tail 30 "$CONTAINER" >&2 2>&1 || true
fi
echo "runtime-check: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
