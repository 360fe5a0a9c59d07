#!/usr/bin/env bash
# `make k8s-check` (part of `make test`): the Kubernetes manifests in deploy/kubernetes/, checked
# without a cluster.
#   1. scripts/k8s/check.py: every kustomization lists exactly the files beside it; every object is
#      valid against the Kubernetes API schemas (kubernetes-validate, strict) for the oldest and
#      newest version we support; selectors, names, ports, probes, the drain timing and the mounted
#      configuration fit together; `kubectl kustomize` renders the same objects when kubectl exists.
#   2. checkov: static security policies. A policy skipped for a resource is skipped in that
#      manifest with a `checkov.io/skipN: ID=reason` annotation, and listed below with its reason.
# Both tools are pinned in scripts/k8s/requirements.txt and installed into .venv-k8s on the first
# run (1.5-2.5 minutes on 2 cores: checkov brings ~100 packages); later runs take 7-15 s.
#
# Environment: PYTHON (python3), K8S_CHECK_VERBOSE=1 (print every passing check too).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv-k8s
REQUIREMENTS=scripts/k8s/requirements.txt
MANIFESTS=deploy/kubernetes
T0=$SECONDS

say() { echo "k8s-check: $*"; }

if [ ! -f "$VENV/.installed" ] || [ "$REQUIREMENTS" -nt "$VENV/.installed" ]; then
    say "installing $(sed -e 's/#.*//' "$REQUIREMENTS" | xargs) into $VENV (once; 1.5-2.5 minutes)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || { say "cannot create $VENV (Debian: apt-get install python3-venv)"; exit 1; }
    # A line every 30 s while pip works silently; the ticker ends with pip, or with this script.
    ( t=0; while sleep 1 && kill -0 $$ 2>/dev/null; do
          t=$((t + 1)); [ $((t % 30)) -ne 0 ] || say "pip is still installing ($t s)"
      done ) &
    ticker=$!
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS" || { kill "$ticker"; exit 1; }
    kill "$ticker" 2>/dev/null || true; wait "$ticker" 2>/dev/null || true
    touch "$VENV/.installed"
    say "$VENV ready in $((SECONDS - T0)) s"
fi

rc=0
"$VENV/bin/python" scripts/k8s/check.py "$MANIFESTS" || rc=1

# checkov: the kubernetes policies, and the secrets scanner (no key may be committed in a manifest).
# --skip-download and CKV_SKIP_PACKAGE_UPDATE_CHECK: no network beyond what pip needed.
REPORT=$(mktemp -t hydra-checkov.XXXXXX.json)
trap 'rm -f "$REPORT"' EXIT
T1=$SECONDS
CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE LOG_LEVEL=ERROR \
    "$VENV/bin/checkov" --directory "$MANIFESTS" --framework kubernetes secrets \
    --skip-download --soft-fail --compact --output json >"$REPORT" 2>"$REPORT.err" || true
if [ -s "$REPORT.err" ]; then cat "$REPORT.err" >&2; fi
rm -f "$REPORT.err"
"$VENV/bin/python" scripts/k8s/checkov_report.py "$REPORT" || rc=1
say "checkov took $((SECONDS - T1)) s; k8s-check $((SECONDS - T0)) s in all"
exit $rc
