#!/usr/bin/env bash
# Scores statsforecast's AutoETS and AutoTheta on exactly the windows m4-eval
# uses, with m4-eval's own M4 scorer, next to tocsin, Theta and Naive2.
#
# Usage: bench/statsforecast_compare.sh            (both resolutions)
#        RES=hourly bench/statsforecast_compare.sh (one resolution)
#        RES=5min EVERY=240 bench/statsforecast_compare.sh (fewer 5-minute windows:
#        AutoETS needs seconds per 3,000-point history)
#        MODELS=AutoTheta RES=5min bench/statsforecast_compare.sh
#        M4_EXTRA_ARGS="--extra-set NAME=DIR" bench/statsforecast_compare.sh
#        (more sets; bench/public_hourly.sh uses it)
# Needs python3 with venv; the venv is made once in $HOME/.cache.
set -euo pipefail

CRATE="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${TOCSIN_BENCH_VENV:-$HOME/.cache/tocsin-bench-venv}"
OUT="${OUT:-$HOME/.cache/tocsin-statsforecast-bench}"
RES="${RES:-hourly,5min}"
# Steps between forecast origins (m4-eval --every); larger = fewer windows.
EVERY="${EVERY:-48}"
# statsforecast models to run (comma separated).
MODELS="${MODELS:-AutoETS,AutoTheta}"
# Extra m4-eval arguments for both runs (split on spaces).
read -ra EXTRA <<< "${M4_EXTRA_ARGS:-}"
export TOCSIN_SHARED_DATA="${TOCSIN_SHARED_DATA:-$CRATE/../../shared/data}"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import statsforecast' 2>/dev/null; then
    echo "creating $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet statsforecast
fi
"$VENV/bin/python" -c 'import statsforecast; print("statsforecast", statsforecast.__version__)'

(cd "$CRATE" && cargo build --release --quiet -p tocsin-forecast --bin m4-eval)
EVAL="${CARGO_TARGET_DIR:-$CRATE/../target}/release/m4-eval"
mkdir -p "$OUT"
"$EVAL" --resolutions "$RES" --every "$EVERY" "${EXTRA[@]}" --export-dir "$OUT" > /dev/null

EXTERNAL=()
IFS=',' read -ra RESOLUTIONS <<< "$RES"
for r in "${RESOLUTIONS[@]}"; do
    case "$r" in
        hourly) season=24; freq=h ;;
        5min) season=288; freq=5min ;;
        *) echo "unknown resolution $r" >&2; exit 1 ;;
    esac
    # One core, like the Rust figures (which are single-threaded).
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 "$VENV/bin/python" "$CRATE/bench/statsforecast_compare.py" \
        --windows "$OUT/windows_$r.csv" --season "$season" --freq "$freq" --horizon 48 \
        --models "$MODELS" --out "$OUT/statsforecast_$r.csv"
    EXTERNAL+=(--score-external "$OUT/statsforecast_$r.csv")
done

"$EVAL" --resolutions "$RES" --every "$EVERY" "${EXTRA[@]}" "${EXTERNAL[@]}"
