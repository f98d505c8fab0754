#!/usr/bin/env python3
"""Produce records with confluent-kafka exactly as four shippers format them
(used by tests/shipper_formats.rs):

- Telegraf's kafka output, data_format = "influx": one metric per message,
  line protocol with a nanosecond timestamp;
- Filebeat's kafka output (codec.json): one ECS document per message, with
  @metadata, agent, ecs, log.level, service.name, host.name;
- rsyslog's omkafka with RSYSLOG_SyslogProtocol23Format: one RFC 5424 line;
- a CD tool emitting CloudEvents 1.0 in structured mode (JSON), tocsin's
  dev.tocsin.change.deploy type.

    produce_formats.py --brokers HOST:PORT --now-ms MS --count N

Topics: telegraf, filebeat, rsyslog, changes. Prints one JSON line with what
was sent and exits non-zero unless the broker acknowledged every message.
"""

import argparse
import json
import sys
from datetime import datetime, timezone


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def messages(now_ms, count):
    for i in range(count):
        ts_ms = now_ms - (count - i) * 1000
        # Telegraf: cpu plugin, two tags, several fields, ns timestamp.
        yield "telegraf", (
            f"cpu,cpu=cpu-total,host=web-{i % 2} usage_user={10 + i}.5,usage_system=2.25,usage_idle={80 - i}.0 "
            f"{ts_ms * 1_000_000}\n"
        ).encode()
        # Filebeat 8 kafka output with codec.json.
        yield "filebeat", json.dumps({
            "@timestamp": iso(ts_ms),
            "@metadata": {"beat": "filebeat", "type": "_doc", "version": "8.15.0"},
            "message": f"GET /api/cart/{i} 500 12ms",
            "log": {"level": "error" if i % 2 else "info", "file": {"path": "/var/log/app/app.log"}, "offset": i * 80},
            "service": {"name": "cart", "version": "2.3.1"},
            "host": {"name": "web-1", "hostname": "web-1"},
            "agent": {"type": "filebeat", "version": "8.15.0", "name": "web-1"},
            "ecs": {"version": "8.0.0"},
            "input": {"type": "filestream"},
        }).encode()
        # rsyslog RSYSLOG_SyslogProtocol23Format (RFC 5424), facility local0.
        yield "rsyslog", (
            f"<131>1 {iso(ts_ms)} db-1 postgres 4242 - [meta sequenceId=\"{i}\"] "
            f"connection to replica lost (attempt {i})"
        ).encode()
    # One deploy, as a CD tool sends it.
    yield "changes", json.dumps({
        "specversion": "1.0",
        "id": "deploy-cart-2.3.1",
        "source": "/ci/pipelines/cart",
        "type": "dev.tocsin.change.deploy",
        "time": iso(now_ms - count * 1000 - 60_000),
        "subject": "cart",
        "datacontenttype": "application/json",
        "data": {"service": "cart", "env": "prod", "version": "2.3.1", "actor": "ci-bot"},
    }).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--now-ms", type=int, required=True)
    ap.add_argument("--count", type=int, default=10)
    args = ap.parse_args()

    from confluent_kafka import Producer

    delivered = {}
    failed = []

    def on_delivery(err, msg):
        if err is None:
            delivered[msg.topic()] = delivered.get(msg.topic(), 0) + 1
        else:
            failed.append(str(err))

    p = Producer({"bootstrap.servers": args.brokers, "acks": "all", "linger.ms": 5, "message.timeout.ms": 60000})
    for topic, value in messages(args.now_ms, args.count):
        p.produce(topic, value=value, on_delivery=on_delivery)
        p.poll(0)
    remaining = p.flush(60)
    ok = remaining == 0 and not failed
    print(json.dumps({"delivered": delivered, "failed": failed, "ok": ok}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
