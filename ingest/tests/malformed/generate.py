#!/usr/bin/env python3
"""Writes the generated part of the malformed-input corpus.

Hand-written samples live next to these files and are not touched. This
script writes what is large, binary or repetitive (invalid UTF-8, binary
garbage, 200-deep nesting, 70 000-byte values, 300 labels, protobuf and
snappy bodies), deterministically: running it again rewrites identical bytes.

The standard library is enough for everything but the protobuf/snappy
samples of the OTLP and remote_write formats, which need `opentelemetry-proto`
and `cramjam` (run ./setup-venv.sh, then this script with that venv's python).
Every binary sample is checked here before it is written: a sample meant to
be bad snappy must fail to decompress, a sample meant to be bad protobuf must
fail a strict wire-format walk (prost's rules) and, for OTLP, the official
Python bindings, and a sample meant to fail later (bad timestamp, missing
field, no record) must parse cleanly, so it tests what it claims to.

Usage: python3 generate.py [--only-json]   (from any directory)
"""

import hashlib
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))

LONG_LEN = 70_000  # > 64 KiB: the value-length limit being added
MANY = 300  # > 256: DecodeLimits::default().max_fields_per_row
DEPTH = 200  # far beyond any sane nesting (serde_json's own limit is 128)
T_NS = 1_795_681_800_000_000_000  # 2026-11-26T08:30:00Z
T_RFC = "2026-11-26T08:30:00Z"


def write(rel, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def long_value():
    # A recognisable pattern rather than one repeated byte, so a truncation
    # bug is visible in a diff.
    unit = "0123456789abcdefghijklmnopqrstuvwxyz-"
    return (unit * (LONG_LEN // len(unit) + 1))[:LONG_LEN]


def many(prefix="l"):
    return {f"{prefix}{i:03}": f"v{i:03}" for i in range(MANY)}


def nested_arrays():
    return "[" * DEPTH + "1" + "]" * DEPTH


def nested_objects(key="a"):
    return ('{"%s":' % key) * DEPTH + "1" + "}" * DEPTH


def garbage(n=4096):
    """Binary garbage with a PNG signature in front: the first line starts
    with 0x89, which is neither JSON nor UTF-8, whatever follows."""
    out = bytearray(b"\x89PNG\r\n\x1a\n")
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"tocsin-malformed-%d" % i).digest()
        i += 1
    return bytes(out[:n])


def splice(template, marker, raw):
    """`template` (str) with `marker` replaced by raw bytes (invalid UTF-8)."""
    head, tail = template.split(marker)
    return head.encode() + raw + tail.encode()


BAD = b"caf\xc3\x28 au lait"  # 0xC3 starts a 2-byte sequence; 0x28 cannot continue it


# ---------------------------------------------------------------- line formats


def logs_json():
    d = "logs.json"
    base = {"ts": T_RFC, "service": "checkout", "level": "info"}
    write(f"{d}/invalid-utf8.json", splice(compact({**base, "message": "@@"}), "@@", BAD) + b"\n")
    rec = compact({**base, "message": "deep", "payload": 0}).replace('"payload":0', '"payload":' + nested_arrays())
    write(f"{d}/deep-nesting.json", rec + "\n")
    write(f"{d}/long-attribute.json", compact({**base, "message": "m", "attributes": {"blob": long_value()}}) + "\n")
    write(f"{d}/many-attributes.json", compact({**base, "message": "m", "attributes": many("a")}) + "\n")
    write(f"{d}/binary-garbage.bin", garbage())


def logs_ecs():
    d = "logs.ecs"
    base = {"@timestamp": T_RFC, "service": {"name": "checkout"}, "log": {"level": "info"}}
    write(f"{d}/invalid-utf8.json", splice(compact({**base, "message": "@@"}), "@@", BAD) + b"\n")
    rec = compact({**base, "message": "deep", "ctx": 0}).replace('"ctx":0', '"ctx":' + nested_objects())
    write(f"{d}/deep-nesting.json", rec + "\n")
    write(f"{d}/long-attribute.json", compact({**base, "message": "m", "labels": {"blob": long_value()}}) + "\n")
    write(f"{d}/many-attributes.json", compact({**base, "message": "m", "kubernetes": {"labels": many("k")}}) + "\n")


def logs_es_bulk():
    d = "logs.es_bulk"
    action = compact({"index": {"_index": "logs-checkout"}})
    base = {"@timestamp": T_RFC, "service": {"name": "checkout"}}
    ok = compact({**base, "message": "order placed"})
    write(f"{d}/invalid-utf8.json", (action + "\n" + ok + "\n" + action + "\n").encode()
          + splice(compact({**base, "message": "@@"}), "@@", BAD) + b"\n")
    doc = compact({**base, "message": "deep", "ctx": 0}).replace('"ctx":0', '"ctx":' + nested_arrays())
    write(f"{d}/deep-nesting.json", action + "\n" + doc + "\n")
    write(f"{d}/long-attribute.json", action + "\n" + compact({**base, "message": "m", "labels": {"blob": long_value()}}) + "\n")
    write(f"{d}/many-attributes.json", action + "\n" + compact({**base, "message": "m", "labels": many("k")}) + "\n")
    write(f"{d}/binary-garbage.bin", garbage())


def logs_syslog():
    d = "logs.syslog"
    head = f"<165>1 {T_RFC} web-1 checkout 42 ID47"
    write(f"{d}/invalid-utf8.txt", f"<34>1 {T_RFC} web-1 checkout - - - ".encode() + BAD + b"\n")
    params = " ".join(f'p{i:03}="v{i:03}"' for i in range(MANY))
    write(f"{d}/many-sd-params.txt", f"{head} [meta@32473 {params}] too many parameters\n")
    write(f"{d}/long-sd-value.txt", f'{head} [meta@32473 blob="{long_value()}"] long parameter\n')
    write(f"{d}/binary-garbage.bin", garbage())


def logs_text():
    d = "logs.text"
    write(f"{d}/invalid-utf8-lone-continuation.txt", b"service started\nbad \x80 byte in the second line\n")
    write(f"{d}/overlong-encoding.txt", b"path /etc\xc0\xafpasswd (overlong '/')\n")
    write(f"{d}/encoded-surrogate.txt", b"CESU-8 surrogate \xed\xa0\x80\xed\xb0\x80 is not UTF-8\n")
    write(f"{d}/truncated-multibyte.txt", b"ERROR: caf\xc3")
    write(f"{d}/latin1.txt", b"WARN: cr\xe8me br\xfbl\xe9e out of stock\n")
    write(f"{d}/utf16le-bom.txt", "\ufeffINFO: hello\n".encode("utf-16-le"))
    write(f"{d}/long-line.txt", f"INFO: request body {long_value()}\n")
    write(f"{d}/binary-garbage.bin", garbage())


def metrics_json():
    d = "metrics.json"
    base = {"ts": T_RFC, "name": "http_requests_total", "value": 1027, "kind": "counter", "service": "checkout"}
    write(f"{d}/invalid-utf8.json", splice(compact({**base, "labels": {"route": "@@"}}), "@@", BAD) + b"\n")
    rec = compact({**base, "labels": {"route": 0}}).replace('"route":0', '"route":' + nested_arrays())
    write(f"{d}/deep-nesting.json", rec + "\n")
    write(f"{d}/long-label.json", compact({**base, "labels": {"route": long_value()}}) + "\n")
    write(f"{d}/many-labels.json", compact({**base, "labels": many()}) + "\n")


def metrics_influx():
    d = "metrics.influx"
    write(f"{d}/invalid-utf8.txt", b"cpu,host=cr\xe8me usage_idle=98.5 1795681800000000000\n")
    tags = ",".join(f"t{i:03}=v{i:03}" for i in range(MANY))
    write(f"{d}/many-tags.txt", f"cpu,{tags} usage_idle=98.5 1795681800000000000\n")
    write(f"{d}/long-tag-value.txt", f"cpu,host=web-1,blob={long_value()} usage_idle=98.5 1795681800000000000\n")
    write(f"{d}/binary-garbage.bin", garbage())


def metrics_prometheus():
    d = "metrics.prometheus"
    base = {"timestamp": T_RFC, "value": "1", "name": "up"}
    labels = {"__name__": "up", "job": "api", "instance": "10.0.0.7:9100"}
    write(f"{d}/invalid-utf8.json", splice(compact({**base, "labels": {**labels, "team": "@@"}}), "@@", BAD) + b"\n")
    rec = compact({**base, "labels": {**labels, "team": 0}}).replace('"team":0', '"team":' + nested_arrays())
    write(f"{d}/deep-nesting.json", rec + "\n")
    write(f"{d}/long-label.json", compact({**base, "labels": {**labels, "team": long_value()}}) + "\n")
    write(f"{d}/many-labels.json", compact({**base, "labels": {**labels, **many()}}) + "\n")


def metrics_telegraf():
    d = "metrics.telegraf_json"
    base = {"fields": {"usage_idle": 99.1}, "name": "cpu", "timestamp": 1795681800}
    write(f"{d}/invalid-utf8.json", splice(compact({**base, "tags": {"host": "@@"}}), "@@", BAD) + b"\n")
    rec = compact({**base, "fields": {"usage_idle": 99.1, "hist": 0}, "tags": {"host": "web-1"}})
    write(f"{d}/deep-nesting.json", rec.replace('"hist":0', '"hist":' + nested_arrays()) + "\n")
    write(f"{d}/long-tag.json", compact({**base, "tags": {"host": "web-1", "blob": long_value()}}) + "\n")
    write(f"{d}/many-tags.json", compact({**base, "tags": {"host": "web-1", **many("t")}}) + "\n")


def alerts_json():
    d = "alerts.json"
    base = {"alertname": "HighErrorRate", "status": "firing", "startsAt": T_RFC}
    labels = {"alertname": "HighErrorRate", "service": "checkout"}
    write(f"{d}/invalid-utf8.json", splice(compact({**base, "labels": {**labels, "team": "@@"}}), "@@", BAD) + b"\n")
    rec = compact({**base, "labels": labels, "context": 0}).replace('"context":0', '"context":' + nested_arrays())
    write(f"{d}/deep-nesting.json", rec + "\n")
    write(f"{d}/long-label.json", compact({**base, "labels": {**labels, "team": long_value()}}) + "\n")
    write(f"{d}/many-labels.json", compact({**base, "labels": {**labels, **many()}}) + "\n")


def webhook(alert, grafana=False):
    env = {"receiver": "tocsin", "status": "firing", "alerts": [alert]}
    if grafana:
        env.update({"orgId": 1, "title": "[FIRING:1] CPU high", "version": "1"})
    else:
        env.update({"version": "4", "groupKey": '{}:{alertname="HighErrorRate"}', "externalURL": "http://alertmanager:9093"})
    return json.dumps(env, indent=2) + "\n"


def alerts_webhooks():
    for d, grafana, name in (("alerts.alertmanager", False, "HighErrorRate"), ("alerts.grafana", True, "CPU high")):
        alert = {
            "status": "firing",
            "labels": {"alertname": name, "service": "checkout"},
            "annotations": {"summary": "@@"},
            "startsAt": T_RFC,
            "endsAt": "0001-01-01T00:00:00Z",
        }
        write(f"{d}/invalid-utf8.json", splice(webhook(alert, grafana), "@@", BAD))
        if grafana:
            deep = {**alert, "annotations": {"summary": "s"}, "values": 0}
            text = webhook(deep, grafana).replace('"values": 0', '"values": ' + nested_objects("B"))
        else:
            deep = {**alert, "annotations": {"details": 0}}
            text = webhook(deep, grafana).replace('"details": 0', '"details": ' + nested_arrays())
        write(f"{d}/deep-nesting.json", text)
        long_alert = {**alert, "annotations": {"summary": "s"}, "labels": {**alert["labels"], "team": long_value()}}
        write(f"{d}/long-label.json", webhook(long_alert, grafana))
        if grafana:
            wide = {**alert, "annotations": many("a")}
            write(f"{d}/many-annotations.json", webhook(wide, grafana))
        else:
            wide = {**alert, "annotations": {"summary": "s"}, "labels": {**alert["labels"], **many()}}
            write(f"{d}/many-labels.json", webhook(wide, grafana))


def changes():
    d = "changes.json"
    base = {"ts": T_RFC, "kind": "deploy", "service": "checkout", "version": "1.4.3"}
    write(f"{d}/invalid-utf8.json", splice(compact({**base, "actor": "@@"}), "@@", BAD) + b"\n")
    rec = compact({**base, "details": 0}).replace('"details":0', '"details":' + nested_objects("d"))
    write(f"{d}/deep-nesting.json", rec + "\n")
    write(f"{d}/binary-garbage.bin", garbage())

    d = "changes.cloudevents"
    ev = {"specversion": "1.0", "id": "a1b2c3", "source": "/ci/pipelines/42",
          "type": "dev.tocsin.change.deploy", "time": T_RFC,
          "data": {"service": "checkout", "version": "1.4.3", "actor": "@@"}}
    write(f"{d}/invalid-utf8.json", splice(json.dumps(ev, indent=2) + "\n", "@@", BAD))
    ev["data"] = {"service": "checkout", "version": "1.4.3", "pipeline": 0}
    write(f"{d}/deep-nesting.json", (json.dumps(ev, indent=2) + "\n").replace('"pipeline": 0', '"pipeline": ' + nested_arrays()))

    d = "changes.github"
    hook = {
        "action": "created",
        "deployment_status": {"id": 9001, "state": "success", "environment": "production",
                              "created_at": T_RFC, "creator": {"login": "@@"}},
        "deployment": {"id": 42, "sha": "a1b2c3d4e5f6", "ref": "v1.4.3", "task": "deploy",
                       "environment": "production", "payload": {"service": "checkout"}},
        "repository": {"name": "checkout", "full_name": "acme/checkout"},
    }
    write(f"{d}/invalid-utf8.json", splice(json.dumps(hook, indent=2) + "\n", "@@", BAD))
    hook["deployment_status"]["creator"]["login"] = "octocat"
    hook["deployment"]["payload"] = 0
    write(f"{d}/deep-nesting.json", (json.dumps(hook, indent=2) + "\n").replace('"payload": 0', '"payload": ' + nested_objects("p")))


def vulnerabilities():
    d = "vulnerabilities.trivy"
    report = {
        "SchemaVersion": 2, "CreatedAt": T_RFC, "ArtifactName": "registry.example/checkout:1.4.3",
        "Results": [{"Target": "registry.example/checkout:1.4.3 (debian 12.7)", "Class": "os-pkgs", "Type": "debian",
                     "Vulnerabilities": [{"VulnerabilityID": "CVE-2026-0001", "PkgName": "openssl",
                                          "InstalledVersion": "3.0.14-1~deb12u1", "Severity": "HIGH", "Title": "@@"}]}],
    }
    write(f"{d}/invalid-utf8.json", splice(json.dumps(report, indent=2) + "\n", "@@", BAD))
    report["Results"][0]["Vulnerabilities"][0]["Title"] = "t"
    report["Metadata"] = 0
    write(f"{d}/deep-nesting.json", (json.dumps(report, indent=2) + "\n").replace('"Metadata": 0', '"Metadata": ' + nested_objects("m")))
    write(f"{d}/binary-garbage.bin", garbage())

    d = "vulnerabilities.grype"
    report = {
        "matches": [{"vulnerability": {"id": "CVE-2026-0001", "severity": "High", "description": "@@"},
                     "artifact": {"name": "openssl", "version": "3.0.14-1~deb12u1", "type": "deb"}}],
        "source": {"type": "image", "target": {"userInput": "registry.example/checkout:1.4.3"}},
        "descriptor": {"name": "grype", "timestamp": T_RFC},
    }
    write(f"{d}/invalid-utf8.json", splice(json.dumps(report, indent=2) + "\n", "@@", BAD))
    report["matches"][0]["vulnerability"]["description"] = "d"
    report["source"] = 0
    write(f"{d}/deep-nesting.json", (json.dumps(report, indent=2) + "\n").replace('"source": 0', '"source": ' + nested_objects("s")))


def otlp_json():
    d = "logs.otlp_json"
    rec = {"timeUnixNano": str(T_NS), "severityNumber": 9, "severityText": "INFO", "body": {"stringValue": "@@"}}
    doc = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
                             "scopeLogs": [{"scope": {"name": "app"}, "logRecords": [rec]}]}]}
    write(f"{d}/invalid-utf8.json", splice(compact(doc), "@@", BAD) + b"\n")
    # kvlistValue inside kvlistValue, DEPTH times: what a recursive AnyValue allows.
    inner = '{"stringValue":"bottom"}'
    for _ in range(DEPTH):
        inner = '{"kvlistValue":{"values":[{"key":"k","value":%s}]}}' % inner
    write(f"{d}/deep-kvlist.json", compact(doc).replace('{"stringValue":"@@"}', inner) + "\n")

    d = "metrics.otlp_json"
    dp = {"asDouble": 0.42, "timeUnixNano": str(T_NS), "attributes": [{"key": "host.name", "value": {"stringValue": "@@"}}]}
    doc = {"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
                                "scopeMetrics": [{"scope": {"name": "app"}, "metrics": [{"name": "system.cpu.load", "gauge": {"dataPoints": [dp]}}]}]}]}
    write(f"{d}/invalid-utf8.json", splice(compact(doc), "@@", BAD) + b"\n")
    inner = '{"stringValue":"bottom"}'
    for _ in range(DEPTH):
        inner = '{"arrayValue":{"values":[%s]}}' % inner
    write(f"{d}/deep-attribute.json", compact(doc).replace('{"stringValue":"@@"}', inner) + "\n")


# ---------------------------------------------------------------- protobuf


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def ld(field, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return key(field, 2) + varint(len(payload)) + payload


# Schemas for the walker: field -> kind, where kind is a message name or one
# of string/bytes/varint/fixed64/fixed32/packed. Only what the samples use.
SCHEMAS = {
    # Prometheus remote_write 1.0 (prompb)
    "WriteRequest": {1: "TimeSeries", 3: "MetricMetadata"},
    "TimeSeries": {1: "Label", 2: "Sample", 3: "Exemplar", 4: "Histogram"},
    "Label": {1: "string", 2: "string"},
    "Sample": {1: "fixed64", 2: "varint"},
    "MetricMetadata": {1: "varint", 2: "string", 4: "string", 5: "string"},
    "Exemplar": {1: "Label", 2: "fixed64", 3: "varint"},
    "Histogram": {},
    # OTLP
    "ExportLogsServiceRequest": {1: "ResourceLogs"},
    "ResourceLogs": {1: "Resource", 2: "ScopeLogs", 3: "string"},
    "Resource": {1: "KeyValue", 2: "varint"},
    "ScopeLogs": {1: "InstrumentationScope", 2: "LogRecord", 3: "string"},
    "InstrumentationScope": {1: "string", 2: "string", 3: "KeyValue", 4: "varint"},
    "LogRecord": {1: "fixed64", 11: "fixed64", 2: "varint", 3: "string", 5: "AnyValue", 6: "KeyValue",
                  7: "varint", 8: "fixed32", 9: "bytes", 10: "bytes", 12: "string"},
    "KeyValue": {1: "string", 2: "AnyValue"},
    "AnyValue": {1: "string", 2: "varint", 3: "varint", 4: "fixed64", 5: "ArrayValue", 6: "KeyValueList", 7: "bytes"},
    "ArrayValue": {1: "AnyValue"},
    "KeyValueList": {1: "KeyValue"},
    "ExportMetricsServiceRequest": {1: "ResourceMetrics"},
    "ResourceMetrics": {1: "Resource", 2: "ScopeMetrics", 3: "string"},
    "ScopeMetrics": {1: "InstrumentationScope", 2: "Metric", 3: "string"},
    "Metric": {1: "string", 2: "string", 3: "string", 5: "Gauge", 7: "Sum", 12: "KeyValue"},
    "Gauge": {1: "NumberDataPoint"},
    "Sum": {1: "NumberDataPoint", 2: "varint", 3: "varint"},
    "NumberDataPoint": {7: "KeyValue", 2: "fixed64", 3: "fixed64", 4: "fixed64", 6: "fixed64", 8: "varint"},
}
WIRE_OF = {"varint": 0, "fixed64": 1, "string": 2, "bytes": 2, "fixed32": 5}
RECURSION_LIMIT = 100  # prost's and python-protobuf's default


class WireError(Exception):
    def __init__(self, msg, utf8=False, deep=False):
        super().__init__(msg)
        self.utf8 = utf8
        self.deep = deep


def _varint(buf, i):
    n = shift = 0
    for k in range(10):
        if i >= len(buf):
            raise WireError("varint runs past the end")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i
    raise WireError("varint longer than 10 bytes")


def _skip(buf, i, wire, field, depth):
    if wire == 0:
        return _varint(buf, i)[1]
    if wire == 1:
        if i + 8 > len(buf):
            raise WireError("fixed64 runs past the end")
        return i + 8
    if wire == 5:
        if i + 4 > len(buf):
            raise WireError("fixed32 runs past the end")
        return i + 4
    if wire == 2:
        n, i = _varint(buf, i)
        if i + n > len(buf):
            raise WireError("length prefix larger than the rest of the buffer")
        return i + n
    if wire == 3:
        if depth >= RECURSION_LIMIT:
            raise WireError("recursion limit", deep=True)
        while True:
            k, i = _varint(buf, i)
            f, w = k >> 3, k & 7
            if w == 4:
                if f != field:
                    raise WireError("end group of another field")
                return i
            if f == 0 or w > 5:
                raise WireError(f"invalid key {k}")
            i = _skip(buf, i, w, f, depth + 1)
    raise WireError(f"wire type {wire} cannot be skipped here")


def walk(buf, msg, depth=0):
    """Raises WireError unless `buf` is a well-formed `msg` by prost's rules."""
    if depth >= RECURSION_LIMIT:
        raise WireError("recursion limit", deep=True)
    schema = SCHEMAS[msg]
    i = 0
    while i < len(buf):
        k, i = _varint(buf, i)
        if k > 0xFFFFFFFF:
            raise WireError("key above u32")
        field, wire = k >> 3, k & 7
        if field == 0:
            raise WireError("field number 0")
        if wire > 5:
            raise WireError(f"wire type {wire}")
        kind = schema.get(field)
        if kind is None:
            if wire == 4:
                raise WireError("end group without a start")
            i = _skip(buf, i, wire, field, depth)
            continue
        want = WIRE_OF.get(kind, 2)
        if wire != want:
            raise WireError(f"{msg}.{field}: wire type {wire}, expected {want}")
        start = i
        i = _skip(buf, i, wire, field, depth)
        if kind in SCHEMAS:
            n, body = _varint(buf, start)
            walk(buf[body:i], kind, depth + 1)
        elif kind == "string":
            n, body = _varint(buf, start)
            try:
                bytes(buf[body:i]).decode("utf-8")
            except UnicodeDecodeError:
                raise WireError(f"{msg}.{field}: string is not UTF-8", utf8=True)


def first_body(buf):
    """The payload of the first (length-delimited) field of `buf`, without its key and length."""
    _, i = _varint(buf, 0)
    n, i = _varint(buf, i)
    return buf[i:i + n]


def check(name, data, expect, msg, decompress=None, py_parse=None):
    """Asserts `data` fails (or not) the way `expect` says before it is written."""
    if not data:
        # Zero bytes are refused before any decompression or parsing.
        if expect != "empty":
            raise SystemExit(f"{name}: zero bytes but expected {expect}")
        return
    if decompress is not None:
        try:
            data = decompress(data)
        except Exception:
            if expect != "invalid_snappy":
                raise SystemExit(f"{name}: does not decompress but expected {expect}")
            return
        if expect == "invalid_snappy":
            raise SystemExit(f"{name}: decompresses but expected invalid_snappy")
    try:
        walk(data, msg)
        err = None
    except WireError as e:
        err = e
    py_err = None
    if py_parse is not None:
        try:
            py_parse(data)
        except Exception as e:  # google.protobuf.message.DecodeError
            py_err = e
    if expect == "invalid_protobuf":
        if err is None or err.utf8 or err.deep or (py_parse is not None and py_err is None):
            raise SystemExit(f"{name}: expected invalid_protobuf, walker={err!r} python={py_err!r}")
    elif expect == "too_deep":
        if err is None or not err.deep or (py_parse is not None and py_err is None):
            raise SystemExit(f"{name}: expected too_deep, walker={err!r} python={py_err!r}")
    elif expect == "invalid_utf8":
        if err is None or not err.utf8 or (py_parse is not None and py_err is None):
            raise SystemExit(f"{name}: expected invalid_utf8, walker={err!r} python={py_err!r}")
    elif err is not None or py_err is not None:
        raise SystemExit(f"{name}: expected a well-formed message, walker={err!r} python={py_err!r}")


def remote_write():
    import cramjam

    d = "metrics.remote_write"

    def compress(b):
        return bytes(cramjam.snappy.compress_raw(b))

    def decompress(b):
        return bytes(cramjam.snappy.decompress_raw(b))

    def label(n, v):
        return ld(1, ld(1, n) + ld(2, v))

    def sample(value, ts_ms):
        return ld(2, key(1, 1) + struct.pack("<d", value) + key(2, 0) + varint(ts_ms & 0xFFFFFFFFFFFFFFFF))

    def series(labels, samples):
        return ld(1, b"".join(label(n, v) for n, v in labels) + b"".join(samples))

    t_ms = T_NS // 1_000_000
    up = series([("__name__", "up"), ("instance", "10.0.0.7:9100"), ("job", "api")], [sample(1.0, t_ms)])
    load = series([("__name__", "node_load1"), ("instance", "10.0.0.7:9100"), ("job", "node")],
                  [sample(0.42, t_ms), sample(0.40, t_ms + 15_000)])
    valid = up + load
    check("remote_write/valid", compress(valid), "ok", "WriteRequest", decompress)

    samples = {}

    def add(fname, data, expect):
        check(f"{d}/{fname}", data, expect, "WriteRequest", decompress)
        samples[fname] = data

    add("empty.bin", b"", "empty")
    add("not-snappy.bin", garbage(1024), "invalid_snappy")
    add("uncompressed-protobuf.bin", valid, "invalid_snappy")
    framed = bytes(cramjam.snappy.compress(valid))  # the framing format, not the block format
    add("framed-snappy.bin", framed, "invalid_snappy")
    add("truncated-snappy.bin", compress(valid)[: len(compress(valid)) * 2 // 3], "invalid_snappy")
    add("truncated-protobuf.bin", compress(valid[:-7]), "invalid_protobuf")
    # field 1 (timeseries) sent as a varint instead of a message
    add("wrong-wire-type.bin", compress(key(1, 0) + varint(42) + load), "invalid_protobuf")
    bad = series([("__name__", "up"), ("instance", "10.0.0.7:9100"), ("job", "@@@@")], [sample(1.0, t_ms)])
    bad = bad.replace(b"@@@@", b"caf\xe9")
    add("label-invalid-utf8.bin", compress(up + bad), "invalid_utf8")
    # year 10000 in milliseconds: past i64 nanoseconds (2262)
    far = series([("__name__", "up"), ("job", "api")], [sample(1.0, 253_402_300_800_000)])
    add("timestamp-out-of-range.bin", compress(far), "invalid_timestamp")
    nameless = series([("instance", "10.0.0.7:9100"), ("job", "api")], [sample(1.0, t_ms)])
    add("missing-metric-name.bin", compress(up + nameless), "missing_field")
    for fname, data in samples.items():
        write(f"{d}/{fname}", data)


def otlp_proto():
    import gzip

    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    def kv(k, v):
        return KeyValue(key=k, value=AnyValue(string_value=v))

    resource = Resource(attributes=[kv("service.name", "checkout"), kv("host.name", "web-1")])

    def logs_req(records):
        return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
            resource=resource, scope_logs=[ScopeLogs(log_records=records)])])

    def rec(body, t=T_NS, attrs=()):
        return LogRecord(time_unix_nano=t, observed_time_unix_nano=T_NS, severity_number=9, severity_text="INFO",
                         body=AnyValue(string_value=body), attributes=list(attrs))

    def parse_logs(b):
        ExportLogsServiceRequest.FromString(b)

    def parse_metrics(b):
        ExportMetricsServiceRequest.FromString(b)

    # ---- logs
    d = "logs.otlp_proto"
    valid = logs_req([rec("order placed", attrs=[kv("user", "u1")]), rec("payment accepted")]).SerializeToString()
    check("logs/valid", valid, "ok", "ExportLogsServiceRequest", py_parse=parse_logs)
    out = {}

    def add(fname, data, expect, py=True):
        check(f"{d}/{fname}", data, expect, "ExportLogsServiceRequest", py_parse=parse_logs if py else None)
        out[fname] = data

    add("empty.bin", b"", "empty")
    add("truncated.bin", valid[:-9], "invalid_protobuf")
    # resource_logs claims 4000 bytes; the message has far fewer
    add("length-prefix-too-large.bin", key(1, 2) + varint(4000) + first_body(valid), "invalid_protobuf")
    # prost refuses a known field with the wrong wire type; upb (python) and
    # Go keep it as an unknown field, so only the walker is asked here.
    add("wrong-wire-type.bin", key(1, 5) + b"\x00\x00\x00\x00" + valid, "invalid_protobuf", py=False)
    # the first tag byte flipped from 0x0a (field 1, LEN) to 0x0f (wire type 7)
    add("flipped-tag-byte.bin", b"\x0f" + valid[1:], "invalid_protobuf")
    bad = logs_req([rec("order placed"), rec("caf@ au lait")]).SerializeToString().replace(b"caf@", b"caf\xff")
    add("body-invalid-utf8.bin", bad, "invalid_utf8")
    add("time-out-of-range.bin", logs_req([rec("order placed", t=0xFFFF_FFFF_FFFF_FFF0)]).SerializeToString(),
        "invalid_timestamp")
    # python-protobuf refuses to serialise past its recursion limit too, so
    # the nesting is assembled by hand: body = ArrayValue{values: ...}, DEPTH deep.
    body = ld(1, "bottom")
    for _ in range(DEPTH):
        body = ld(5, ld(1, body))
    deep_rec = key(1, 1) + struct.pack("<Q", T_NS) + key(5, 2) + varint(len(body)) + body
    deep_msg = ld(1, ld(2, ld(2, deep_rec)))
    add("deep-anyvalue.bin", deep_msg, "too_deep")
    json_body = compact({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": str(T_NS), "body": {"stringValue": "order placed"}}]}]}]})
    add("otlp-json-sent-as-proto.bin", json_body.encode(), "invalid_protobuf")
    for fname, data in out.items():
        write(f"{d}/{fname}", data)

    # ---- metrics
    d = "metrics.otlp_proto"

    def metrics_req(metrics):
        return ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
            resource=resource, scope_metrics=[ScopeMetrics(metrics=metrics)])])

    def gauge(name, value=0.42, t=T_NS, attrs=()):
        return Metric(name=name, unit="1", gauge=Gauge(data_points=[NumberDataPoint(
            time_unix_nano=t, as_double=value, attributes=list(attrs))]))

    valid = metrics_req([gauge("system.cpu.load", attrs=[kv("cpu", "0")]), gauge("system.memory.utilization", 0.61)]).SerializeToString()
    check("metrics/valid", valid, "ok", "ExportMetricsServiceRequest", py_parse=parse_metrics)
    out = {}

    def addm(fname, data, expect, py=True):
        check(f"{d}/{fname}", data, expect, "ExportMetricsServiceRequest", py_parse=parse_metrics if py else None)
        out[fname] = data

    addm("empty.bin", b"", "empty")
    addm("truncated.bin", valid[:-5], "invalid_protobuf")
    addm("length-prefix-too-large.bin", key(1, 2) + varint(1 << 20) + first_body(valid), "invalid_protobuf")
    addm("wrong-wire-type.bin", key(1, 0) + varint(7) + valid, "invalid_protobuf", py=False)
    addm("gzip-body.bin", gzip.compress(valid, mtime=0), "invalid_protobuf")
    bad = metrics_req([gauge("system.cpu.lo@d")]).SerializeToString().replace(b"lo@d", b"lo\xc0d")
    addm("metric-name-invalid-utf8.bin", bad, "invalid_utf8")
    addm("metric-without-name.bin", metrics_req([gauge("")]).SerializeToString(), "missing_field")
    addm("metric-without-data.bin", metrics_req([Metric(name="system.cpu.load", unit="1")]).SerializeToString(),
         "missing_field")
    addm("datapoint-time-out-of-range.bin",
         metrics_req([gauge("system.cpu.load", t=0xFFFF_FFFF_FFFF_FFF0)]).SerializeToString(), "invalid_timestamp")
    attr = ld(1, "bottom")
    for _ in range(DEPTH):
        attr = ld(5, ld(1, attr))  # AnyValue{array_value: ArrayValue{values: [attr]}}
    dp = key(3, 1) + struct.pack("<Q", T_NS) + key(4, 1) + struct.pack("<d", 0.42) + ld(7, ld(1, "k") + ld(2, attr))
    deep_msg = ld(1, ld(2, ld(2, ld(1, "system.cpu.load") + ld(5, ld(1, dp)))))
    addm("deep-attribute.bin", deep_msg, "too_deep")
    for fname, data in out.items():
        write(f"{d}/{fname}", data)

    # protobuf bytes posted to the OTLP/JSON endpoints
    write("logs.otlp_json/protobuf-sent-as-json.bin", logs_req([rec("order placed")]).SerializeToString())
    write("metrics.otlp_json/protobuf-sent-as-json.bin", metrics_req([gauge("system.cpu.load")]).SerializeToString())


def main():
    logs_json()
    logs_ecs()
    logs_es_bulk()
    logs_syslog()
    logs_text()
    metrics_json()
    metrics_influx()
    metrics_prometheus()
    metrics_telegraf()
    alerts_json()
    alerts_webhooks()
    changes()
    vulnerabilities()
    otlp_json()
    if "--only-json" not in sys.argv:
        remote_write()
        otlp_proto()


if __name__ == "__main__":
    main()
