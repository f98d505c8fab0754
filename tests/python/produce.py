#!/usr/bin/env python3
"""Produce tocsin log lines with a Python Kafka client (used by tests/e2e_kafka.rs).

    produce.py --client confluent|kafka-python --brokers HOST:PORT --topic T \
               --count N --service S --base-ts-ms MS --step-ms MS

Line i has event time base + i * step (ms since the epoch), level info, and a
unique trace id "<client>-<service>-<i>". Prints one JSON summary line
{"client", "delivered", "failed"} and exits non-zero unless every message was
acknowledged by the broker.
"""

import argparse
import json
import sys
import time


def lines(args):
    for i in range(args.count):
        trace_id = f"{args.client}-{args.service}-{i}"
        yield trace_id, json.dumps(
            {
                "ts": args.base_ts_ms + i * args.step_ms,
                "service": args.service,
                "host": f"{args.service}-py",
                "env": "test",
                "version": "1.0.0",
                "level": "info",
                "message": f"info handling request {trace_id}",
                "trace_id": trace_id,
                "attributes": {"client": args.client, "seq": i},
            }
        ).encode()


def produce_confluent(args):
    from confluent_kafka import Producer

    delivered = 0
    failed = []

    def on_delivery(err, _msg):
        nonlocal delivered
        if err is None:
            delivered += 1
        else:
            failed.append(str(err))

    p = Producer(
        {
            "bootstrap.servers": args.brokers,
            "acks": "all",
            "linger.ms": 20,
            "message.timeout.ms": 120000,
        }
    )
    for trace_id, value in lines(args):
        while True:
            try:
                p.produce(args.topic, value=value, key=args.service.encode(), on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    remaining = p.flush(120)
    if remaining:
        failed.append(f"{remaining} messages still in flight after 120 s")
    return delivered, failed


def produce_kafka_python(args):
    from kafka import KafkaProducer

    p = KafkaProducer(
        bootstrap_servers=[args.brokers],
        acks="all",
        linger_ms=20,
        request_timeout_ms=60000,
    )
    futures = [
        p.send(args.topic, value=value, key=args.service.encode())
        for _trace_id, value in lines(args)
    ]
    p.flush(timeout=120)
    delivered = 0
    failed = []
    for f in futures:
        try:
            f.get(timeout=60)
            delivered += 1
        except Exception as e:  # noqa: BLE001 - report every failure
            failed.append(repr(e))
    p.close(timeout=30)
    return delivered, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--client", choices=["confluent", "kafka-python"], required=True)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--base-ts-ms", type=int, default=int(time.time() * 1000))
    ap.add_argument("--step-ms", type=int, default=10)
    args = ap.parse_args()

    started = time.monotonic()
    if args.client == "confluent":
        delivered, failed = produce_confluent(args)
    else:
        delivered, failed = produce_kafka_python(args)
    for f in failed[:10]:
        print(f"delivery failed: {f}", file=sys.stderr)
    print(
        json.dumps(
            {
                "client": args.client,
                "delivered": delivered,
                "failed": len(failed),
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    )
    return 0 if not failed and delivered == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
