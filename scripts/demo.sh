#!/usr/bin/env bash
# The demo behind `make demo`: the delivery-ETA example through its gates on the
# local platform, exactly as the GitHub workflow would run them, twice:
#   1. a good challenger: smoke passes, champion gate passes, promoted to champion;
#   2. a deliberately worse one (30% of its training labels shuffled): blocked.
set -uo pipefail
cd "$(dirname "$0")/../examples/delivery_eta"
rm -rf .mlgates
out=$(mktemp -d)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
output() { grep "^$1=" "$2" | tail -1 | cut -d= -f2-; }

say "Stage 1 (pull request): pytest -m smoke"
pytest -m smoke -q -p no:cacheprovider || { echo "smoke stage failed"; exit 1; }

say "Stage 2, run 1 (good challenger): pytest -m champion_gate"
GITHUB_OUTPUT=$out/run1 pytest -m champion_gate -q -p no:cacheprovider || { echo "unexpected: blocked"; exit 1; }
v1=$(output model_version "$out/run1")
echo "outputs: model_version=$v1 should_promote=$(output should_promote "$out/run1")"
say "Promote version $v1 (ledger-checked, compare-and-swap)"
mlgates promote --model-version "$v1" || exit 1

say "Stage 2, run 2 (worse challenger): pytest -m champion_gate --mlgates-hyperparameter label_noise=0.3"
GITHUB_OUTPUT=$out/run2 pytest -m champion_gate -q --tb=no -p no:cacheprovider --mlgates-hyperparameter label_noise=0.3
code=$?
v2=$(output model_version "$out/run2")
echo "exit code $code; outputs: model_version=$v2 should_promote=$(output should_promote "$out/run2")"
[ "$code" = 1 ] || { echo "unexpected: the worse challenger was not blocked"; exit 1; }
say "Trying to promote the blocked version $v2 anyway"
if mlgates promote --model-version "$v2"; then echo "unexpected: promoted"; exit 1; fi

say "Registry"
mlgates status
echo
echo "Demo finished: version $v1 is the champion; version $v2 was blocked by the champion gate."
