#!/usr/bin/env bash
# The test command: installs what the end-to-end tests need when it is
# missing (scripts/setup.sh), then runs every test of the workspace,
# the reliability suite in its quick form included.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

# --- the tests ----------------------------------------------------------------
log "cargo test --workspace (target dir $CARGO_TARGET_DIR)"
started=$SECONDS
# --no-fail-fast: one failing test binary must not hide the others' results.
# Unit, integration and end-to-end tests; the crates have no doc tests.
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
cargo test --workspace --lib --bins --tests --no-fail-fast --color never 2>&1 | tee "$out" || status=$?
log "tests finished in $((SECONDS - started)) s"
# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$out"
exit "$status"
