#!/usr/bin/env bash
# The demo behind `make demo`: the delivery-ETA example through the whole
# pipeline on the local platform, each stage its own `pytest -m <stage>`
# process handing the candidate on as the GitHub workflow does:
#   0. first deployment: no champion yet, the candidate is load-checked and becomes champion;
#   1. a good challenger (max_iter=300): every gate passes, rolled out 10% -> 50% -> 100%, promoted;
#   2. a worse challenger (30% of its labels shuffled): blocked by the champion gate;
#   3. a challenger with good offline metrics whose production deployment returns errors
#      (MLGATES_INJECT_ERROR_RATE=0.2): passes staging, breaches at the 10% step, rolled back.
set -uo pipefail
cd "$(dirname "$0")/../examples/delivery_eta"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
expect() {  # expect CODE DESCRIPTION -- COMMAND...
  local want=$1 what=$2; shift 3
  "$@"; local got=$?
  if [ "$got" != "$want" ]; then echo "demo: $what exited $got, expected $want"; exit 1; fi
}
cleanup() { mlgates endpoints --delete-all >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
rm -rf .mlgates
started=$(date +%s)

say "Run 0: first deployment (no champion yet)"
expect 0 "first deployment" -- mlgates pipeline

say "Run 1: a good challenger (max_iter=300)"
expect 0 "good challenger" -- mlgates pipeline -- --mlgates-hyperparameter max_iter=300

say "Run 2: a worse challenger (label_noise=0.3)"
expect 1 "worse challenger" -- mlgates pipeline -- --mlgates-hyperparameter label_noise=0.3

say "Run 3: good offline metrics, errors in production (MLGATES_INJECT_ERROR_RATE=0.2)"
MLGATES_INJECT_ERROR_RATE=0.2 expect 1 "faulty challenger" -- mlgates pipeline -- --mlgates-hyperparameter learning_rate=0.08

say "Registry and production endpoint"
mlgates status
mlgates endpoints
echo
echo "Demo finished in $(( $(date +%s) - started )) s: v1 first deployment, v2 promoted, v3 blocked by the champion gate, v4 rolled back."
