#!/usr/bin/env bash
# libFuzzer targets for the pure-Swift parsers (see Fuzz/README.md).
#
#   FUZZ_SECONDS=60 bash scripts/fuzz.sh            # every target, 60 s each (the default)
#   FUZZ_SECONDS=10 bash scripts/fuzz.sh http dotenv  # some targets
#
# Each target is one swiftc invocation: the Sources files it exercises plus Fuzz/<target>.swift,
# built with -sanitize=fuzzer,address into .build-fuzz/. The Sources files are compiled from copies
# in .build-fuzz/src/<target>/ whose `import <package module>` lines are removed (everything is one
# module there), so a target can span files of several package modules. Committed inputs in
# Fuzz/regressions/<target>/ are replayed first; then the fuzzer runs for FUZZ_SECONDS from the
# seeds in Fuzz/corpus/<target>/ with the tokens in Fuzz/dict/<target>.dict (the growing corpus
# lives in .build-fuzz/, not in the repo). A new crashing input is copied to
# Fuzz/regressions/<target>/ so it can be committed (unless a committed regression of that target
# still fails: then it stays in .build-fuzz/artifacts/<target>/, as it is most likely the same bug).
# Exit status: 0 when no target crashed, 1 otherwise (2: build or usage error).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SWIFTC="${SWIFTC:-swiftc}"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
OUT=".build-fuzz"
# Swift's crash reporter would swallow the crash (exit 132, no crash-* file).
export SWIFT_BACKTRACE=enable=no
# ASan: report and stop on the first error; leaks are not interesting for these pure functions.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}"

ALL_TARGETS=(http sse_json think_filter dotenv chat_request upstream)

# The Sources files each target compiles, by file name: each is looked up under Sources/ (it must
# be there exactly once), so a file moving to another module does not break its targets.
source_names() {
    case "$1" in
        http) echo RequestHeadParser RequestHead HTTPHeaders HTTPRequest ChunkedDecoder ;;
        sse_json) echo SSEDecoder JSONValue JSONParser JSONWriter ;;
        think_filter) echo ThinkFilter ;;
        dotenv) echo DotEnv ;;
        chat_request) echo ChatRequest OpenAIError JSONValue JSONParser JSONWriter ;;
        upstream) echo ResponseHeadParser UpstreamError CompletionShape ChunkedDecoder \
                       SSEDecoder JSONValue JSONParser JSONWriter Usage ChatRequest OpenAIError ;;
        *) return 1 ;;
    esac
}
sources() {
    local names n found
    names="$(source_names "$1")" || return 1
    for n in $names; do
        found="$(find Sources -name "$n.swift" -type f)"
        if [ -z "$found" ] || [ "$(wc -l <<<"$found")" != 1 ]; then
            echo "fuzz: target $1 needs exactly one $n.swift under Sources/, found: ${found:-none}" >&2
            return 2
        fi
        echo "$found"
    done
}

# The package's module names (Sources/<name>/): their import lines are dropped from the copies.
MODULES="$(cd Sources && ls -d */ | tr -d / | paste -sd'|' -)"

if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
for t in "${TARGETS[@]}"; do
    source_names "$t" >/dev/null || { echo "fuzz: unknown target '$t' (known: ${ALL_TARGETS[*]})" >&2; exit 2; }
done
case "$FUZZ_SECONDS" in ''|*[!0-9]*) echo "fuzz: FUZZ_SECONDS must be a whole number of seconds" >&2; exit 2 ;; esac

mkdir -p "$OUT/bin" "$OUT/logs"

build() {
    local t="$1" bin="$OUT/bin/$1" src="$OUT/src/$1" files copies="" cmd f own
    files="$(sources "$t" | tr '\n' ' ')" || return 1
    for f in $files; do copies+=" $src/$f"; done
    # A target's own files: Fuzz/<target>.swift, plus Fuzz/<target>/*.swift when it has more parts.
    local own="Fuzz/$t.swift"
    [ -d "Fuzz/$t" ] && own+="$(find "Fuzz/$t" -name '*.swift' -type f | sort | sed 's/^/ /' | tr -d '\n')"
    cmd="${copies# } $own"
    # Rebuild only when a source is newer than the binary or the file list changed.
    if [ -x "$bin" ] && [ "$(cat "$bin.cmd" 2>/dev/null)" = "$cmd" ]; then
        local stale=0
        for f in $files $own; do [ "$f" -nt "$bin" ] && stale=1; done
        [ "$stale" = 0 ] && return 0
    fi
    echo "fuzz: building $t"
    rm -rf "$src"
    for f in $files; do
        mkdir -p "$src/$(dirname "$f")"
        sed -E "/^[[:space:]]*(@_implementationOnly[[:space:]]+|(public|package|internal)[[:space:]]+)?import[[:space:]]+($MODULES)[[:space:]]*(\/\/.*)?$/d" "$f" > "$src/$f"
    done
    # shellcheck disable=SC2086
    if ! "$SWIFTC" -sanitize=fuzzer,address -parse-as-library -O -swift-version 6 \
            -module-name "Fuzz_$t" $cmd -o "$bin" >"$OUT/logs/$t.build.log" 2>&1; then
        cat "$OUT/logs/$t.build.log" >&2
        echo "fuzz: $t does not build standalone from: $files (copies in $src, package imports removed)" >&2
        return 1
    fi
    echo "$cmd" > "$bin.cmd"
}

stat_of() { # stat_of NAME LOG -> value of libFuzzer's final "stat::NAME: value" line
    sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -n 1
}

declare -a SUMMARY=()
failed=0
for t in "${TARGETS[@]}"; do
    build "$t" || exit 2
done

for t in "${TARGETS[@]}"; do
    bin="$OUT/bin/$t"
    log="$OUT/logs/$t.log"
    artifacts="$OUT/artifacts/$t"
    work="$OUT/corpus/$t"
    regressions="Fuzz/regressions/$t"
    rm -rf "$artifacts"
    mkdir -p "$artifacts" "$work" "$regressions"

    # 1. Replay committed regressions (each must now pass).
    replayed=0 regressed=0
    for f in "$regressions"/*; do
        [ -f "$f" ] || continue
        replayed=$((replayed + 1))
        if ! "$bin" -runs=1 "$f" >"$OUT/logs/$t.regression.log" 2>&1; then
            regressed=$((regressed + 1))
            echo "fuzz: $t: regression input $f still crashes:" >&2
            grep -E "property violated|Fatal error|ERROR: AddressSanitizer|SUMMARY" "$OUT/logs/$t.regression.log" | head -n 5 >&2 || true
        fi
    done

    # 2. Fuzz for a bounded time.
    echo "fuzz: running $t for ${FUZZ_SECONDS}s"
    start=$(date +%s)
    dict=()
    [ -f "Fuzz/dict/$t.dict" ] && dict=(-dict="Fuzz/dict/$t.dict")
    set +e
    "$bin" "$work" "Fuzz/corpus/$t" "${dict[@]}" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    set -e
    elapsed=$(( $(date +%s) - start ))
    execs="$(stat_of number_of_executed_units "$log")"
    rate="$(stat_of average_exec_per_sec "$log")"
    crashes=0
    for a in "$artifacts"/*; do
        [ -f "$a" ] || continue
        crashes=$((crashes + 1))
        if [ "$regressed" = 0 ]; then
            cp "$a" "$regressions/"
            echo "fuzz: $t: crashing input saved as $regressions/$(basename "$a")" >&2
        else
            echo "fuzz: $t: crashing input kept as $a (a committed regression still fails)" >&2
        fi
    done
    if [ "$rc" != 0 ] && [ "$crashes" = 0 ]; then crashes=1; echo "fuzz: $t exited $rc without an artifact; see $log" >&2; fi
    if [ "$crashes" != 0 ]; then
        grep -E "property violated|Fatal error|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY" "$log" | head -n 5 >&2 || true
        echo "fuzz: $t: full report in $log" >&2
    fi
    [ "$crashes" = 0 ] && [ "$regressed" = 0 ] || failed=1
    SUMMARY+=("$(printf '%-13s %12s %10s %7ss %8s %12s' "$t" "${execs:-?}" "${rate:-?}" "$elapsed" "$crashes" "$((replayed - regressed))/$replayed")")
done

echo
printf '%-13s %12s %10s %8s %8s %12s\n' target executions exec/s time crashes regressions
# crashes: found by this run's fuzzing; regressions: committed inputs that pass / all of them.
for line in "${SUMMARY[@]}"; do echo "$line"; done
if [ "$failed" = 0 ]; then echo "fuzz: no crashes"; else echo "fuzz: FAILED: a crash, or a committed regression input that still fails (see above)"; fi
exit "$failed"
