# Installs what the end-to-end tests need when it is missing (the tansu
# broker, psql, Alertmanager, Prometheus, a Python venv with the Kafka,
# PostgreSQL and OpenTelemetry clients) and exports where they are.
# Sourced by scripts/test.sh and scripts/reliability.sh.
#
# Idempotent: what is already there is reused. Works unattended (CI=true).

log() { printf '==> %s\n' "$*"; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tocsin-target}"
# A one-shot build gains nothing from incremental caches, which grew to
# tens of GB in a long-lived target directory.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
mkdir -p "$CARGO_TARGET_DIR"

# --- tansu (Kafka-compatible broker for the end-to-end tests) ---------------
find_tansu() {
    if command -v tansu >/dev/null 2>&1; then
        command -v tansu
    elif [ -x "$HOME/.cargo/bin/tansu" ]; then
        echo "$HOME/.cargo/bin/tansu"
    else
        return 1
    fi
}

if ! TOCSIN_TANSU="$(find_tansu)"; then
    # Another install (from an earlier, interrupted run) may still be going.
    while pgrep -f "cargo install --locked tansu" >/dev/null 2>&1; do
        log "waiting for a running 'cargo install tansu' to finish"
        sleep 20
    done
    if ! TOCSIN_TANSU="$(find_tansu)"; then
        log "installing tansu (about 12 minutes the first time)"
        started=$SECONDS
        # Its own temporary target directory, not the workspace's.
        env -u CARGO_TARGET_DIR cargo install --locked tansu --features dynostore,libsql
        log "tansu installed in $((SECONDS - started)) s"
        TOCSIN_TANSU="$(find_tansu)"
    fi
fi
export TOCSIN_TANSU
log "tansu: $TOCSIN_TANSU"

# --- psql (Debian's postgresql-client) ---------------------------------------
if ! command -v psql >/dev/null 2>&1; then
    log "installing postgresql-client from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null
fi
log "psql: $(psql --version)"

# --- Alertmanager (Debian's prometheus-alertmanager), for the sink test -----
if ! command -v prometheus-alertmanager >/dev/null 2>&1; then
    log "installing prometheus-alertmanager from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
fi
export TOCSIN_ALERTMANAGER_BIN="$(command -v prometheus-alertmanager)"
log "alertmanager: $($TOCSIN_ALERTMANAGER_BIN --version 2>&1 | head -1)"

# --- Prometheus (Debian's prometheus), remote-writing to tocsin -------------
if ! command -v prometheus >/dev/null 2>&1; then
    log "installing prometheus from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
export TOCSIN_PROMETHEUS_BIN="$(command -v prometheus)"
log "prometheus: $($TOCSIN_PROMETHEUS_BIN --version 2>&1 | head -1)"

# --- Python clients (confluent-kafka, kafka-python, psycopg, OpenTelemetry) --
VENV="$HOME/.cache/tocsin-venv"
PY_IMPORTS="import confluent_kafka, kafka, psycopg, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http"
if ! "$VENV/bin/python" -c "$PY_IMPORTS" >/dev/null 2>&1; then
    log "creating the Python venv at $VENV"
    PYTHON="$(command -v python3 || command -v python || true)"
    if [ -z "$PYTHON" ] || ! "$PYTHON" -m venv --clear "$VENV"; then
        # Debian's python3 lacks venv/ensurepip until python3-venv is installed.
        log "installing python3-venv from Debian's packages"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
        PYTHON="$(command -v python3)"
        "$PYTHON" -m venv --clear "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check confluent-kafka kafka-python "psycopg[binary]" \
        opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2
    "$VENV/bin/python" -c "$PY_IMPORTS"
fi
export TOCSIN_TEST_PYTHON="$VENV/bin/python"
log "python: $TOCSIN_TEST_PYTHON ($("$TOCSIN_TEST_PYTHON" -c 'import confluent_kafka, kafka; print("confluent-kafka", confluent_kafka.version(), "/ librdkafka", confluent_kafka.libversion()[0], "/ kafka-python", kafka.__version__)'))"

