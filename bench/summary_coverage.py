"""Coverage of the Fig. 14 slope CIs by bootstrap mode (writes bench/results/summary_coverage.json).

Usage: .venv/bin/python bench/summary_coverage.py [--reps 200]

Simulated sweeps drawn directly as transcript counts from the persona model (no Hydra, no classifier),
then analysed by afx_summary.analysis.fig14_stats exactly as the summary does:
  fixed:   9 variations with fixed faker shares, AF the only gap source (true slope 1), 1000 transcripts
           per tier: the only noise is transcript sampling.
  scatter: 40 variations with random faker shares and an extra non-AF gap term per variation, uniform on
           [0, 10] pp and independent of AF (true slope still 1), 500 transcripts per tier: variations
           scatter around the line beyond sampling noise.
Reported: the share of sweeps whose 95% CI contains the true slope, per statistic and bootstrap mode.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import polars as pl

from afx_summary import analysis as an

RESULTS = Path(__file__).parent / "results" / "summary_coverage.json"


def points(rng: np.random.Generator, faker: np.ndarray, extra: np.ndarray, n: int) -> pl.DataFrame:
    rows = []
    for i, (f, t) in enumerate(zip(faker, extra, strict=True)):
        r = 0.85 - f - t
        train = rng.multinomial(n, [r, 1 - r - f, 0.0, f])  # non-compliant, compliant AF 0 / 0.5 / 1
        unmon = int(rng.binomial(n, r + f + t))
        x, a, b = train[3] / n, unmon / n, train[0] / n
        rows.append(
            {
                "setting": "s",
                "label": str(i),
                "af_pct": 100 * x,
                "af_se": 100 * math.sqrt(x * (1 - x) / (n - 1)),
                "gap_pp": 100 * (a - b),
                "gap_se": 100 * math.sqrt(a * (1 - a) / n + b * (1 - b) / n),
                "included": True,
                "source": "transcripts",
                **dict(zip(an.B_TRAIN[:4], map(int, train), strict=True)),
                "b_unmon_k": unmon,
                "b_unmon_n": n,
            }
        )
    return pl.DataFrame(rows)


def coverage(design: str, reps: int) -> dict:
    rng = np.random.default_rng(0 if design == "fixed" else 1)
    hits: dict[str, int] = {}
    for rep in range(reps):
        if design == "fixed":
            faker = np.array([0.02, 0.08, 0.12, 0.14, 0.2, 0.26, 0.32, 0.38, 0.45])
            pts = points(rng, faker, np.zeros(faker.size), 1000)
        else:
            faker = rng.uniform(0.02, 0.45, 40)
            pts = points(rng, faker, rng.uniform(0, 0.1, 40), 500)
        for mode in an.BOOTSTRAPS:
            fit = an.fig14_stats(pts, bootstrap=mode, n_boot=1000, seed=rep).row(0, named=True)
            for stat in ("ols_slope", "deming_slope"):
                key = f"{stat} / {mode}"
                hits[key] = hits.get(key, 0) + (fit[f"{stat}_lo"] <= 1 <= fit[f"{stat}_hi"])
    return {key: round(h / reps, 3) for key, h in sorted(hits.items())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    start = time.perf_counter()
    result = {
        "what": "share of simulated sweeps whose 95% CI contains the true slope (1); see the docstring",
        "reps": args.reps,
        "fixed_9_variations_x_1000": coverage("fixed", args.reps),
        "scatter_40_variations_x_500": coverage("scatter", args.reps),
        "seconds": round(time.perf_counter() - start, 1),
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
