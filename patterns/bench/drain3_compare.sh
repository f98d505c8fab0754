#!/usr/bin/env bash
# Side-by-side with drain3 on the same input, in the same run:
#   1. a generated labelled corpus (LINES lines for our miner's timing; drain3
#      gets the first DRAIN_LINES of it, and both are scored on that slice),
#   2. the hand-written Loghub-style samples in tests/fixtures/loghub_style.
# Prints lines/s and grouping accuracy (plus F1 and template accuracy).
# The venv lives in $HOME/.cache/tocsin-bench-venv and is created once.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$HOME/.cache/tocsin-bench-venv"
WORK="$HOME/.cache/tocsin-patterns-bench"
LINES="${LINES:-1000000}"
DRAIN_LINES="${DRAIN_LINES:-200000}"
mkdir -p "$WORK"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import drain3" 2>/dev/null; then
    "$VENV/bin/pip" install --quiet drain3
fi
PY="$VENV/bin/python"

cargo build --release --quiet --manifest-path "$HERE/Cargo.toml" -p tocsin-patterns --bin patterns
BIN="${CARGO_TARGET_DIR:-$HERE/../target}/release/patterns"

echo "== generated corpus: $LINES lines (drain3 and scoring on the first $DRAIN_LINES)"
"$BIN" gen-corpus --lines "$LINES" --seed 7 --out "$WORK/corpus.csv"
head -n $((DRAIN_LINES + 1)) "$WORK/corpus.csv" > "$WORK/slice.csv"
echo "-- ours, full corpus"
"$BIN" --input "$WORK/corpus.csv" --format csv --out "$WORK/ours_full.csv"
echo "-- ours, slice"
"$BIN" --input "$WORK/slice.csv" --format csv --out "$WORK/ours.csv"
echo "-- drain3, slice"
"$PY" "$HERE/bench/drain3_run.py" --input "$WORK/slice.csv" --format csv --out "$WORK/drain3.csv"
"$BIN" score --truth "$WORK/slice.csv" --pred "$WORK/drain3.csv"

echo "== Loghub-style samples (tests/fixtures/loghub_style)"
printf "%-12s %8s %8s\n" system ours drain3
for f in "$HERE"/tests/fixtures/loghub_style/*.txt; do
    name="$(basename "$f" .txt)"
    "$PY" - "$f" "$WORK/$name.csv" <<'PYEOF'
import csv, sys
templates, rows = {}, []
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.rstrip("\n")
    if not line:
        continue
    if line.startswith("#T "):
        eid, t = line[3:].split(" ", 1)
        templates[eid] = t
        continue
    eid, content = line.split(" ", 1)
    rows.append([str(len(rows) + 1), content, eid, templates[eid]])
with open(sys.argv[2], "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["LineId", "Content", "EventId", "EventTemplate"])
    w.writerows(rows)
PYEOF
    ours=$("$BIN" --input "$WORK/$name.csv" --format csv --out "$WORK/$name.ours.csv" 2>/dev/null | grep -o 'grouping_accuracy=[0-9.]*' | cut -d= -f2)
    "$PY" "$HERE/bench/drain3_run.py" --input "$WORK/$name.csv" --format csv --out "$WORK/$name.drain3.csv" 2>/dev/null
    theirs=$("$BIN" score --truth "$WORK/$name.csv" --pred "$WORK/$name.drain3.csv" | grep -o 'grouping_accuracy=[0-9.]*' | cut -d= -f2)
    printf "%-12s %8s %8s\n" "$name" "$ours" "$theirs"
done | tee "$WORK/samples.txt"
awk '{o+=$2; d+=$3; n++} END {printf "%-12s %8.4f %8.4f\n", "average", o/n, d/n}' "$WORK/samples.txt"
