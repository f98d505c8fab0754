#!/usr/bin/env python3
"""DuckDB's side of examples/sql_bench.rs: the same queries over the same
Parquet files, with as many threads as the machine has cores (DataFusion's
default too). Prints a JSON list of median seconds per query.

    duckdb_bench.py --lake DIR --queries queries.json [--repeat 3]
"""
import argparse
import json
import os
import statistics
import sys
import time

import duckdb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    con = duckdb.connect()
    con.execute(f"SET threads TO {os.cpu_count()}")
    con.execute("SET TimeZone = 'UTC'")
    for table in ("logs", "metrics"):
        files = os.path.join(args.lake, table, "*", "*", "*.parquet")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{files}', hive_partitioning = false)")
    out = []
    for q in json.load(open(args.queries)):
        times = []
        for _ in range(args.repeat + 1):
            t = time.perf_counter()
            rows = con.execute(q["sql"]).fetchall()
            times.append(time.perf_counter() - t)
        median = statistics.median(times[1:])
        print(f"duckdb      {median:8.3f} s  {len(rows):4d} rows  {q['name']}", file=sys.stderr)
        out.append(median)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
