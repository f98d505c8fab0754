#!/usr/bin/env python3
"""Send a small, deterministic batch of OTLP/HTTP logs and metrics with the
official OpenTelemetry Python SDK + opentelemetry-exporter-otlp-proto-http.

  otlp_send.py --endpoint http://127.0.0.1:PORT [--signals logs,metrics]
               [--encoding protobuf|json] [--compression none|gzip]
               [--headers "Authorization=Bearer x,X-Other=y"]
               [--service-name checkout] [--service-version 1.4.2]
               [--environment prod] [--run-id ID] [--timeout 5]

The endpoint is the base URL; /v1/logs and /v1/metrics are appended here
(exporter 1.45's `endpoint=` argument is the full per-signal URL). Override with
--logs-endpoint / --metrics-endpoint. Base URL may also come from
$TOCSIN_OTLP_ENDPOINT.

Exactly one HTTP request per signal is sent:
  logs:    BatchLogRecordProcessor, explicit force_flush() then shutdown()
  metrics: PeriodicExportingMetricReader(export_interval_millis=inf) -> no
           background ticker; explicit force_flush() collects+exports once,
           shutdown() exports nothing more. Temporality: cumulative (default).

--encoding json: the same SDK exporter and HTTP client, but the serialized
protobuf request is re-encoded as OTLP/JSON (otlp_json.py) and sent with
Content-Type: application/json.

stdout: exactly one JSON line summarising what was exported (decoded from the
request the exporter built), e.g. {"ok": true, "logs": {...}, "metrics": {...}}.
SDK diagnostics go to stderr.
Exit status: 0 if every export returned SUCCESS, 1 if any failed, 2 on usage errors.
"""
import argparse
import json
import logging
import math
import os
import sys
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)  # SDK LoggingHandler is deprecated in 1.39+

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import otlp_json  # noqa: E402

# Fixed ids for the one log record emitted "inside a span" (checks hex traceId/spanId handling).
TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
SPAN_ID = 0xEEE19B7EC3C1B174


class _JsonClient:
    """Wraps the exporter's HTTP client: protobuf bytes in, OTLP/JSON bytes out."""

    def __init__(self, inner, signal):
        self._inner, self._cls = inner, otlp_json.request_class(signal)

    def export(self, data):
        msg = self._cls()
        msg.ParseFromString(data)
        return self._inner.export(otlp_json.to_otlp_json(msg).encode("utf-8"))

    def shutdown(self):
        self._inner.shutdown()


def _use_json(exporter, signal):
    # Relies on the private `_client` (an _OTLPHTTPClient with .export(bytes)) of
    # opentelemetry-exporter-otlp-proto-http 1.45.x; fail loudly if that changes.
    inner = getattr(exporter, "_client", None)
    if inner is None or not callable(getattr(inner, "export", None)):
        raise SystemExit("otlp_send: --encoding json unsupported with this exporter version")
    exporter._client = _JsonClient(inner, signal)


class RecordingLogExporter(OTLPLogExporter):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.results, self.requests = [], []

    def export(self, batch):
        self.requests.append(encode_logs(batch))
        r = super().export(batch)
        self.results.append(r)
        return r


class RecordingMetricExporter(OTLPMetricExporter):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.results, self.requests = [], []

    def export(self, metrics_data, timeout_millis=10_000, **kw):
        self.requests.append(encode_metrics(metrics_data))
        r = super().export(metrics_data, timeout_millis=timeout_millis, **kw)
        self.results.append(r)
        return r


def _any(v):
    k = v.WhichOneof("value")
    if k == "kvlist_value":
        return {kv.key: _any(kv.value) for kv in v.kvlist_value.values}
    if k == "array_value":
        return [_any(x) for x in v.array_value.values]
    if k == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, k) if k else None


def _attrs(kvs, skip=()):
    return {kv.key: _any(kv.value) for kv in kvs if kv.key not in skip}


def summarize_logs(reqs):
    recs = []
    resource = None
    for req in reqs:
        for rl in req.resource_logs:
            resource = _attrs(rl.resource.attributes)
            for sl in rl.scope_logs:
                for lr in sl.log_records:
                    recs.append({
                        "scope": sl.scope.name,
                        "severity_number": lr.severity_number,
                        "severity_text": lr.severity_text,
                        "body": _any(lr.body),
                        # code.* attributes (file path/line) are left out: environment-dependent
                        "attributes": _attrs(lr.attributes, skip=("code.file.path", "code.function.name", "code.line.number")),
                        "trace_id": lr.trace_id.hex(),
                        "span_id": lr.span_id.hex(),
                    })
    return resource, {"requests": len(reqs), "records": len(recs), "items": recs}


def summarize_metrics(reqs):
    out, npoints, resource = [], 0, None
    for req in reqs:
        for rm in req.resource_metrics:
            resource = _attrs(rm.resource.attributes)
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    d = getattr(m, kind)
                    item = {"name": m.name, "type": kind, "unit": m.unit, "scope": sm.scope.name}
                    if kind == "sum":
                        item["monotonic"] = d.is_monotonic
                    if kind in ("sum", "histogram", "exponential_histogram"):
                        item["temporality"] = d.aggregation_temporality
                    pts = []
                    for p in d.data_points:
                        pt = {"attributes": _attrs(p.attributes)}
                        if kind in ("sum", "gauge"):
                            vk = p.WhichOneof("value")
                            pt["value"] = getattr(p, vk)
                            pt["value_type"] = vk
                        elif kind == "histogram":
                            pt.update(count=p.count, sum=p.sum, min=p.min, max=p.max,
                                      explicit_bounds=list(p.explicit_bounds),
                                      bucket_counts=list(p.bucket_counts))
                        pts.append(pt)
                    npoints += len(pts)
                    item["data_points"] = pts
                    out.append(item)
    return resource, {"requests": len(reqs), "metric_count": len(out), "data_points": npoints,
                      "names": [m["name"] for m in out], "items": out}


def parse_headers(values):
    h = {}
    for v in values or []:
        for part in v.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise SystemExit("bad --headers entry %r (want key=value)" % part)
            k, val = part.split("=", 1)
            h[k.strip()] = val.strip()
    return h


def send_metrics(args, resource, headers, compression):
    exp = RecordingMetricExporter(endpoint=args.metrics_endpoint, headers=headers, timeout=args.timeout,
                                  compression=compression)
    if args.encoding == "json":
        _use_json(exp, "metrics")
    reader = PeriodicExportingMetricReader(exp, export_interval_millis=math.inf)
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    meter = mp.get_meter("tocsin.otlp_send", "0.1.0")

    orders = meter.create_counter("app.orders.processed", unit="{order}", description="Orders processed")
    orders.add(1, {"payment.method": "card"})
    orders.add(2, {"payment.method": "card"})
    orders.add(4, {"payment.method": "paypal"})

    depth = meter.create_up_down_counter("app.queue.depth", unit="{item}", description="Items waiting in queue")
    depth.add(5, {"queue": "payments"})
    depth.add(-2, {"queue": "payments"})

    def ratio_cb(_options):
        yield Observation(0.75, {"cache": "sessions"})

    meter.create_observable_gauge("app.cache.hit_ratio", callbacks=[ratio_cb], unit="1",
                                  description="Cache hit ratio")

    lat = meter.create_histogram("http.server.duration", unit="ms", description="Request latency")
    for v in (12, 40, 40, 230, 1200):
        lat.record(v, {"http.route": "/cart", "http.request.method": "GET"})

    flushed = mp.force_flush(timeout_millis=int(args.timeout * 1000) + 1000)
    mp.shutdown()
    ok = bool(flushed) and len(exp.results) > 0 and all(r == MetricExportResult.SUCCESS for r in exp.results)
    return ok, exp


def send_logs(args, resource, headers, compression):
    exp = RecordingLogExporter(endpoint=args.logs_endpoint, headers=headers, timeout=args.timeout,
                               compression=compression)
    if args.encoding == "json":
        _use_json(exp, "logs")
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(exp, schedule_delay_millis=60_000))
    handler = LoggingHandler(level=logging.NOTSET, logger_provider=lp)

    log = logging.getLogger("checkout.app")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(handler)

    log.debug("cache miss", extra={"cache.key": "cart:42"})
    log.info("order placed", extra={"order.id": "A-1001", "order.amount": 42.5, "order.items": 3})
    log.warning("payment retry", extra={"order.id": "A-1002", "retry.attempt": 2})
    span = NonRecordingSpan(SpanContext(trace_id=TRACE_ID, span_id=SPAN_ID, is_remote=False,
                                        trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        log.error("payment failed", extra={"order.id": "A-1003", "error.type": "card_declined"})
    finally:
        otel_context.detach(token)

    log.removeHandler(handler)
    flushed = lp.force_flush(timeout_millis=int(args.timeout * 1000) + 1000)
    lp.shutdown()
    ok = bool(flushed) and len(exp.results) > 0 and all(r == LogRecordExportResult.SUCCESS for r in exp.results)
    return ok, exp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default=os.environ.get("TOCSIN_OTLP_ENDPOINT"),
                    help="base URL, e.g. http://127.0.0.1:4318 (env TOCSIN_OTLP_ENDPOINT)")
    ap.add_argument("--logs-endpoint")
    ap.add_argument("--metrics-endpoint")
    ap.add_argument("--signals", default="logs,metrics")
    ap.add_argument("--encoding", choices=("protobuf", "json"), default="protobuf")
    ap.add_argument("--compression", choices=("none", "gzip", "deflate"), default="none")
    ap.add_argument("--headers", action="append", help='"k=v,k2=v2" (repeatable)')
    ap.add_argument("--service-name", default="checkout")
    ap.add_argument("--service-version", default="1.4.2")
    ap.add_argument("--environment", default="prod")
    ap.add_argument("--run-id", help="adds resource attribute test.run_id")
    ap.add_argument("--timeout", type=float, default=5.0, help="per-export timeout incl. retries (s)")
    args = ap.parse_args()

    signals = [s.strip() for s in args.signals.split(",") if s.strip()]
    if not signals or any(s not in ("logs", "metrics") for s in signals):
        ap.error("--signals must be a subset of logs,metrics")
    if not args.endpoint and not (args.logs_endpoint and args.metrics_endpoint):
        ap.error("--endpoint (or TOCSIN_OTLP_ENDPOINT) is required")
    base = (args.endpoint or "").rstrip("/")
    args.logs_endpoint = args.logs_endpoint or base + "/v1/logs"
    args.metrics_endpoint = args.metrics_endpoint or base + "/v1/metrics"

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="otlp_send: %(levelname)s %(name)s: %(message)s")

    res_attrs = {
        "service.name": args.service_name,
        "service.version": args.service_version,
        "deployment.environment": args.environment,
    }
    if args.run_id:
        res_attrs["test.run_id"] = args.run_id
    resource = Resource.create(res_attrs)  # also adds telemetry.sdk.{language,name,version}

    headers = parse_headers(args.headers)
    if args.encoding == "json":
        headers["Content-Type"] = "application/json"
    compression = {"none": Compression.NoCompression, "gzip": Compression.Gzip,
                   "deflate": Compression.Deflate}[args.compression]

    summary = {"ok": True, "encoding": args.encoding, "compression": args.compression}
    for sig in signals:
        if sig == "logs":
            ok, exp = send_logs(args, resource, headers, compression)
            res, s = summarize_logs(exp.requests)
            s["endpoint"] = args.logs_endpoint
        else:
            ok, exp = send_metrics(args, resource, headers, compression)
            res, s = summarize_metrics(exp.requests)
            s["endpoint"] = args.metrics_endpoint
        s["exported"] = ok
        s["results"] = [r.name for r in exp.results]
        summary[sig] = s
        summary["resource"] = res
        summary["ok"] = summary["ok"] and ok

    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
