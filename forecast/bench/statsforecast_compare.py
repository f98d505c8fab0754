"""Runs statsforecast's AutoETS and AutoTheta on windows exported by
`m4-eval --export-dir`, times them (numba JIT warm-up reported separately)
and writes forecasts as `series_id,timestamp,point,lower,upper,model` for
`m4-eval --score-external`."""

import argparse
import time

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoETS, AutoTheta


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", required=True)
    ap.add_argument("--season", type=int, required=True)
    ap.add_argument("--freq", required=True)
    ap.add_argument("--horizon", type=int, default=48)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="AutoETS,AutoTheta")
    args = ap.parse_args()

    df = pd.read_csv(args.windows)
    df = df.rename(columns={"series_id": "unique_id", "timestamp": "ds", "value": "y"})
    df["ds"] = pd.to_datetime(df["ds"], utc=True).dt.tz_localize(None)
    ids = df["unique_id"].unique()
    n_series = len(ids)
    # Warm up numba on a spread of series so every code path compiles before timing.
    warm_ids = ids[:: max(1, n_series // 16)]
    warm = df[df["unique_id"].isin(warm_ids)]

    outputs = []
    makers = {
        "AutoETS": lambda: AutoETS(season_length=args.season),
        "AutoTheta": lambda: AutoTheta(season_length=args.season),
    }
    for name in args.models.split(","):
        model = makers[name]
        t0 = time.perf_counter()
        StatsForecast(models=[model()], freq=args.freq, n_jobs=1).forecast(df=warm, h=args.horizon)
        warmup = time.perf_counter() - t0
        t0 = time.perf_counter()
        fc = StatsForecast(models=[model()], freq=args.freq, n_jobs=1).forecast(df=df, h=args.horizon)
        secs = time.perf_counter() - t0
        print(
            f"{name}: {n_series} series in {secs:.2f} s = {n_series / secs:.1f} series/s "
            f"(one core; JIT warm-up run on {len(warm_ids)} series took {warmup:.2f} s, excluded)",
            flush=True,
        )
        fc = fc.reset_index() if "unique_id" not in fc.columns else fc
        col = [c for c in fc.columns if c.startswith(name)][0]
        outputs.append(
            pd.DataFrame(
                {
                    "series_id": fc["unique_id"],
                    "timestamp": pd.to_datetime(fc["ds"]).dt.strftime("%Y-%m-%d %H:%M:%S"),
                    "point": fc[col],
                    "lower": "",
                    "upper": "",
                    "model": name,
                }
            )
        )
    pd.concat(outputs).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
