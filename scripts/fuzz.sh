#!/usr/bin/env bash
# Runs every decoder's cargo-fuzz target (fuzz/fuzz_targets/) for a set
# time each and prints executions and crashes per target. Not part of CI.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Needs the nightly toolchain (libFuzzer's sanitizer flags) and cargo-fuzz,
# which it installs when missing. Each target starts from the malformed
# corpus and the real-client fixtures of its format (ingest/tests/), and
# keeps what it learns in fuzz/corpus/<target>/ (not committed). Crashes
# are written to fuzz/artifacts/<target>/; the summary goes to
# fuzz/summary.tsv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-60}"
shift || true
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/tocsin-fuzz-target}"

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi

summary=fuzz/summary.tsv
printf 'target\tseconds\texecutions\tcrashes\n' > "$summary"
for t in "${targets[@]}"; do
    table="${t%%_*}"
    format="${t#*_}"
    corpus="fuzz/corpus/$t"
    mkdir -p "$corpus" "fuzz/artifacts/$t"
    # Seeds: the malformed samples and the real payloads of this format.
    if [ -d "ingest/tests/malformed/$table.$format" ]; then
        cp -n "ingest/tests/malformed/$table.$format"/* "$corpus"/ 2>/dev/null || true
    fi
    case "$format" in
        remote_write) cp -n ingest/tests/fixtures/remote_write_*.bin "$corpus"/ ;;
        otlp_proto) cp -n "ingest/tests/fixtures/otlp_$table.pb" "$corpus"/ ;;
        otlp_json) cp -n "ingest/tests/fixtures/otlp_$table.json" "$corpus"/ ;;
    esac
    log="fuzz/artifacts/$t/run.log"
    status=0
    cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$corpus" -- \
        -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=2048 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1 || status=$?
    runs="$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -1 || true)"
    crashes="$(find "fuzz/artifacts/$t" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)"
    printf '%s\t%s\t%s\t%s\n' "$t" "$seconds" "${runs:-?}" "$crashes" | tee -a "$summary"
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        echo "  $t exited with $status; see $log" >&2
    fi
done
echo "summary: $summary"
