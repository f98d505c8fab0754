#!/usr/bin/env bash
# The reliability suite in its long form (the figures in RELIABILITY.md):
# 2 M events with 20 SIGKILLs, a 60 s broker outage, two scale-out
# instances with one SIGKILLed (600,000 events), a 5-minute sink
# outage, a flood of 1.6 M messages, 50,000 events/s for a minute and a
# 30-minute soak with 100,000 series. About 45 minutes on 2 cores.
#
#   bash scripts/reliability.sh [test-name-filter]
#
# The result lines are also written to
# $HOME/.cache/tocsin-reliability/results-<date>.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

export TOCSIN_RELIABILITY=full
out_dir="$HOME/.cache/tocsin-reliability"
mkdir -p "$out_dir"
out="$out_dir/results-$(date -u +%Y%m%dT%H%M%SZ).txt"
log "reliability suite, long form; results in $out"
status=0
# --workspace: the same feature set, so the same build, as the test command.
cargo test --workspace --test reliability --color never -- --test-threads=1 --nocapture "$@" 2>&1 \
    | tee "$out.full" | grep --line-buffered -E '^\[result\]|^test |panicked|^test result' || status=$?
grep -E '^\[result\]' "$out.full" > "$out" || true
if grep -q '^test result: FAILED' "$out.full"; then
    status=1
fi
log "results:"
cat "$out"
exit "$status"
