#!/usr/bin/env bash
# Creates the Python environment generate.py needs (protobuf messages of
# OTLP and snappy for remote_write). Idempotent: does nothing when present.
set -euo pipefail
VENV="${TOCSIN_CORPUS_VENV:-$HOME/.cache/tocsin-corpus-venv}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import cramjam, opentelemetry.proto' 2>/dev/null; then
    exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet 'opentelemetry-proto>=1.27' 'cramjam>=2.8'
