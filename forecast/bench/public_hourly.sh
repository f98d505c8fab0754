#!/usr/bin/env bash
# Scores tocsin, Naive2, Theta and statsforecast's AutoETS and AutoTheta on
# public hourly series bundled with PyPI packages (see public_hourly.py),
# with m4-eval's M4 scorer, next to the NAB hourly sets.
#
# Usage: bench/public_hourly.sh
# Needs python3 with venv; the venvs are made once in $HOME/.cache.
set -euo pipefail

CRATE="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${TOCSIN_PUBLIC_HOURLY_VENV:-$HOME/.cache/tocsin-public-hourly-venv}"
OUT="${OUT:-$HOME/.cache/tocsin-public-hourly}"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pmdarima, pvlib' 2>/dev/null; then
    echo "creating $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet pmdarima pvlib
fi
"$VENV/bin/python" "$CRATE/bench/public_hourly.py" "$OUT/series"
M4_EXTRA_ARGS="--extra-set public=$OUT/series" RES=hourly "$CRATE/bench/statsforecast_compare.sh"
