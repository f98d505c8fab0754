"""Writes public hourly series, bundled with PyPI packages, as NAB-style
`timestamp,value` CSVs for `m4-eval --extra-set`.

The series (chosen before any was scored, by one rule: measured, not
smoothed, hourly or finer, strictly positive so sMAPE is defined):
- taylor_electricity: half-hourly electricity demand of England and Wales,
  12 weeks of 2000 (pmdarima's `load_taylor`; J. W. Taylor 2003);
- greensboro_humidity, sand_point_humidity: hourly relative humidity of
  two TMY3 files shipped with pvlib (NREL; each month is a measured month
  of some year, so the series restarts at month edges).

Usage: public_hourly.py OUT_DIR
"""

import datetime
import os
import sys

import pmdarima.datasets
import pvlib
from pvlib.iotools import read_tmy3


def write(out_dir, name, start, step_minutes, values):
    path = os.path.join(out_dir, name + ".csv")
    with open(path, "w") as f:
        f.write("timestamp,value\n")
        for i, v in enumerate(values):
            t = start + datetime.timedelta(minutes=step_minutes * i)
            f.write(f"{t:%Y-%m-%d %H:%M:%S},{float(v)!r}\n")
    print(f"{path}: {len(values)} points", file=sys.stderr)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    # 5 June 2000 was a Monday, the series' first day.
    write(out_dir, "taylor_electricity", datetime.datetime(2000, 6, 5), 30,
          pmdarima.datasets.load_taylor())
    data_dir = os.path.join(os.path.dirname(pvlib.__file__), "data")
    for name, file in [("greensboro_humidity", "723170TYA.CSV"),
                       ("sand_point_humidity", "703165TY.csv")]:
        data, _ = read_tmy3(os.path.join(data_dir, file), map_variables=False)
        # TMY timestamps jump between source years; the hours are in order,
        # so they are laid on one continuous year.
        write(out_dir, name, datetime.datetime(2001, 1, 1, 1), 60,
              data["RHum (%)"].to_numpy())


if __name__ == "__main__":
    main()
