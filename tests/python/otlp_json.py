#!/usr/bin/env python3
"""OTLP protobuf -> OTLP/JSON (as the OTLP/HTTP spec defines it).

google.protobuf.json_format gets most of the way (lowerCamelCase keys, 64-bit
integers as decimal strings, NaN/Infinity as strings), but OTLP/JSON differs
from the canonical proto3 JSON mapping in two places, fixed up here:
  * enums MUST be integers (severityNumber, aggregationTemporality, span kind ...)
    -> use_integers_for_enums=True
  * traceId / spanId / parentSpanId MUST be lowercase hex, not base64.
    (Only those id fields; AnyValue.bytesValue stays base64.)

CLI:  otlp_json.py logs|metrics|traces IN.pb [OUT.json]
"""
import base64
import json
import sys

from google.protobuf.json_format import MessageToDict

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _fix_ids(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in _ID_KEYS and isinstance(v, str):
                node[k] = base64.b64decode(v).hex()
            else:
                _fix_ids(v)
    elif isinstance(node, list):
        for v in node:
            _fix_ids(v)
    return node


def to_otlp_dict(msg):
    d = MessageToDict(msg, use_integers_for_enums=True)  # camelCase keys by default
    return _fix_ids(d)


def to_otlp_json(msg, indent=None):
    return json.dumps(to_otlp_dict(msg), indent=indent, separators=(",", ":") if indent is None else None)


def request_class(signal):
    if signal == "logs":
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest as C
    elif signal == "metrics":
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest as C
    elif signal == "traces":
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest as C
    else:
        raise ValueError(signal)
    return C


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    msg = request_class(sys.argv[1])()
    with open(sys.argv[2], "rb") as f:
        msg.ParseFromString(f.read())
    out = to_otlp_json(msg, indent=2) + "\n"
    if len(sys.argv) == 4:
        with open(sys.argv[3], "w") as f:
            f.write(out)
    else:
        sys.stdout.write(out)


if __name__ == "__main__":
    main()
