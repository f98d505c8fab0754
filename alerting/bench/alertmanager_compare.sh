#!/usr/bin/env bash
# Replays one alert stream through a real Alertmanager and through tocsin's
# alert-replay with the same config, and prints both sets of figures.
#
# usage: bench/alertmanager_compare.sh <am.yml> <stream.jsonl>
# env:   FACTOR   time compression (durations in config and stream divided by it; default 60)
#        PUSH_N   alerts for the max-rate acceptance test (default 20000)
#        PUSH_BATCH alerts per POST in the max-rate test (default 500)
#        MAX_WALL hard bound on the replay phase in seconds (default 900)
#
# Everything runs on 127.0.0.1 with random free ports; nothing else is contacted.
set -euo pipefail

AM_YML=$(realpath "${1:?am.yml}")
STREAM=$(realpath "${2:?stream.jsonl}")
FACTOR=${FACTOR:-60}
PUSH_N=${PUSH_N:-20000}
PUSH_BATCH=${PUSH_BATCH:-500}
MAX_WALL=${MAX_WALL:-900}
CRATE=$(cd "$(dirname "$0")/.." && pwd)

# Alertmanager from Debian (binary is prometheus-alertmanager there).
AM_BIN=$(command -v alertmanager || command -v prometheus-alertmanager || true)
if [ -z "$AM_BIN" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
  AM_BIN=$(command -v alertmanager || command -v prometheus-alertmanager)
fi

# A no-op when up to date; keeps the binary in step with the sources.
(cd "$CRATE" && cargo build --release --quiet -p tocsin-alerting --bin alert-replay)
REPLAY="$(cd "$CRATE" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/alert-replay"

WORK=$(mktemp -d /tmp/am-compare.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # Alertmanager may still be writing its snapshot as it exits.
  rm -rf "$WORK" 2>/dev/null || { sleep 1; rm -rf "$WORK" 2>/dev/null || true; }
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
HOOK_PORT=$(free_port)
AM_PORT=$(free_port)

cat > "$WORK/hook.py" <<'PY'
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
lock = threading.Lock()
stats = {}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            p = json.loads(body)
        except ValueError:
            p = {}
        name = self.path.strip("/")
        with lock:
            s = stats.setdefault(name, {"notifications": 0, "alerts": 0, "firing": 0, "resolved": 0})
            s["notifications"] += 1
            for a in p.get("alerts", []):
                s["alerts"] += 1
                s["firing" if a.get("status") == "firing" else "resolved"] += 1
        self.send_response(200); self.end_headers()
    def do_GET(self):
        with lock:
            b = json.dumps(stats).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers()
        self.wfile.write(b)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$WORK/hook.py" "$HOOK_PORT" & PIDS+=($!)

"$REPLAY" --config "$AM_YML" --emit-am-config "$WORK/am.yml" \
  --webhook-url "http://127.0.0.1:$HOOK_PORT" --speedup "$FACTOR"

# tocsin on the same inputs, with the same time compression (its output is
# independent of compression; the compressed run mirrors what Alertmanager sees).
TOCSIN_PASS=$("$REPLAY" --config "$AM_YML" --alerts "$STREAM" --speedup "$FACTOR" --lifecycle passthrough)
TOCSIN_DEF=$("$REPLAY" --config "$AM_YML" --alerts "$STREAM" --speedup "$FACTOR" --lifecycle default)
DRAIN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["drain_s"])' "$TOCSIN_PASS")

mkdir -p "$WORK/data"
"$AM_BIN" --config.file="$WORK/am.yml" --storage.path="$WORK/data" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= \
  --log.level=warn >"$WORK/am.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do
  if python3 -c 'import sys,urllib.request; urllib.request.urlopen("http://127.0.0.1:%s/-/ready" % sys.argv[1], timeout=1)' "$AM_PORT" 2>/dev/null; then break; fi
  sleep 0.2
done

cat > "$WORK/replay.py" <<'PY'
import json, sys, time, http.client
from datetime import datetime, timezone
port, path, factor, drain, max_wall = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
def ns(s):
    if not s: return None
    s = s.replace("Z", "+00:00")
    # Python 3.11 parses at most 6 fractional digits.
    if "." in s:
        head, rest = s.split(".", 1)
        i = 0
        while i < len(rest) and rest[i].isdigit(): i += 1
        s = head + "." + rest[:i][:6].ljust(6, "0") + rest[i:]
    return int(datetime.fromisoformat(s).timestamp() * 1e9)
evs = []
with open(path) as f:
    for line in f:
        if line.strip():
            evs.append(json.loads(line))
evs.sort(key=lambda e: ns(e["ts"]))
t0 = ns(evs[0]["ts"])
wall0 = time.time() + 0.5
def wall(t): return wall0 + (t - t0) / 1e9 / factor
def iso(w): return datetime.fromtimestamp(w, timezone.utc).isoformat().replace("+00:00", "Z")
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
accepted = rejected = posts = 0
def post(batch):
    global accepted, rejected, posts
    if not batch: return
    conn.request("POST", "/api/v2/alerts", json.dumps(batch), {"Content-Type": "application/json"})
    r = conn.getresponse(); r.read(); posts += 1
    if r.status == 200: accepted += len(batch)
    else: rejected += len(batch)
batch = []
deadline = time.time() + max_wall
late = 0.0
for e in evs:
    due = wall(ns(e["ts"]))
    now = time.time()
    if due > now:
        post(batch); batch = []
        now = time.time()
        if due > now: time.sleep(due - now)
    else:
        late = max(late, now - due)
    if time.time() > deadline:
        print("replay aborted: MAX_WALL exceeded", file=sys.stderr); break
    a = {"labels": e["labels"], "annotations": e.get("annotations") or {}}
    if e.get("starts_at"): a["startsAt"] = iso(wall(ns(e["starts_at"])))
    if e["status"] == "resolved":
        a["endsAt"] = iso(wall(ns(e.get("ends_at") or e["ts"])))
    elif e.get("ends_at"):
        a["endsAt"] = iso(wall(ns(e["ends_at"])))
    batch.append(a)
post(batch)
time.sleep(max(0.0, min(drain, max_wall)) + 2.0)
print(json.dumps({"accepted": accepted, "rejected": rejected, "posts": posts, "max_lag_s": round(late, 3)}))
PY
REPLAY_OUT=$(python3 "$WORK/replay.py" "$AM_PORT" "$STREAM" "$FACTOR" "$DRAIN" "$MAX_WALL")
HOOK_STATS=$(python3 -c 'import sys,urllib.request; print(urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1]).read().decode())' "$HOOK_PORT")

cat > "$WORK/push.py" <<'PY'
import json, sys, time, http.client
port, n, bs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
bodies = []
for s in range(0, n, bs):
    bodies.append(json.dumps([{"labels": {"alertname": "MaxRate", "i": str(i), "bench": "maxrate"}} for i in range(s, min(n, s + bs))]))
ok = 0
t = time.perf_counter()
for i, b in enumerate(bodies):
    conn.request("POST", "/api/v2/alerts", b, {"Content-Type": "application/json"})
    r = conn.getresponse(); r.read()
    if r.status == 200: ok += min(bs, n - i * bs)
dt = time.perf_counter() - t
print(json.dumps({"pushed": n, "accepted": ok, "batch": bs, "seconds": round(dt, 3), "alerts_per_s": round(ok / dt, 1)}))
PY
PUSH_OUT=$(python3 "$WORK/push.py" "$AM_PORT" "$PUSH_N" "$PUSH_BATCH")

python3 - "$HOOK_STATS" "$REPLAY_OUT" "$PUSH_OUT" "$TOCSIN_PASS" "$TOCSIN_DEF" "$FACTOR" <<'PY'
import json, sys
hook, rep, push, tp, td = (json.loads(x) for x in sys.argv[1:6])
per = {k: v["notifications"] for k, v in sorted(hook.items())}
out = {
  "factor": float(sys.argv[6]),
  "alertmanager": {"notifications": sum(per.values()), "per_receiver": per,
                   "alerts_in_notifications": sum(v["alerts"] for v in hook.values()),
                   "replay": rep, "max_rate_push": push},
  "tocsin_passthrough": tp,
  "tocsin_default": td,
}
print(json.dumps(out, indent=2))
PY
