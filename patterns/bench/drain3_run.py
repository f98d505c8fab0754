#!/usr/bin/env python3
"""Run drain3 over a log file and write LineId,EventId,EventTemplate.

Input: a Loghub structured CSV (Content column; optional Namespace column:
one TemplateMiner per namespace, as our miner does) or raw lines.
drain3 runs with its default parameters (sim_th 0.4, depth 4) and the masking
instructions of drain3's example configuration (IDs, IPs, hex sequences,
hex numbers, integers). Masks such as <NUM> are written as <*> so templates
compare with ours. Prints lines/s of the add_log_message loop only.
"""
import argparse
import csv
import re
import sys
import time

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

MASKING = [
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
    (r"(?<=executed cmd )(\".+?\")", "CMD"),
]
MASK_TOKEN = re.compile(r"<[A-Z]+>")


def new_miner():
    cfg = TemplateMinerConfig()
    cfg.masking_instructions = [MaskingInstruction(p, m) for p, m in MASKING]
    cfg.profiling_enabled = False
    return TemplateMiner(config=cfg)


def read(path, fmt, limit):
    rows = []
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        if fmt == "csv":
            for r in csv.DictReader(f):
                rows.append((r.get("LineId") or str(len(rows) + 1), r.get("Namespace", ""), r["Content"]))
                if limit and len(rows) >= limit:
                    break
        else:
            for line in f:
                rows.append((str(len(rows) + 1), "", line.rstrip("\r\n")))
                if limit and len(rows) >= limit:
                    break
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--format", choices=["raw", "csv"], default="raw")
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    rows = read(a.input, a.format, a.limit)
    miners = {}
    ids = []
    t0 = time.perf_counter()
    for _, ns, content in rows:
        m = miners.get(ns)
        if m is None:
            m = miners[ns] = new_miner()
        res = m.add_log_message(content)
        ids.append((ns, res["cluster_id"]))
    secs = time.perf_counter() - t0
    templates = {}
    for ns, m in miners.items():
        for c in m.drain.clusters:
            templates[(ns, c.cluster_id)] = MASK_TOKEN.sub("<*>", c.get_template())
    with open(a.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["LineId", "EventId", "EventTemplate"])
        for (line_id, _, _), (ns, cid) in zip(rows, ids):
            w.writerow([line_id, f"{ns}#{cid}", templates.get((ns, cid), "")])
    print(f"drain3 lines={len(rows)} observe_secs={secs:.3f} lines_per_sec={len(rows) / max(secs, 1e-9):.0f}", file=sys.stderr)


if __name__ == "__main__":
    main()
