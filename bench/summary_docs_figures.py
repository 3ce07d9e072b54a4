"""Make the figures shown in docs/summary.md on the simulated backend (docs/img/summary_fig1{3,4,5,6}.png).

Usage: .venv/bin/python bench/summary_docs_figures.py
Writes bench/results/summary_docs_figures.json (the Fig. 14 fits and timings).

Labels are the simulator's truth (`classifier=oracle`): the pictures show what the summary's statistics do
with labels that are right; every figure is stamped "simulated" in its footer. (With the heuristic, whose AF
rule no longer matches the simulator's paraphrased scratchpads, they would show the heuristic's errors.)

1. `python -m afx -m +experiment=fig13 model=simulated classifier=oracle`: Figs. 13, 15, 16.
2. `python -m afx -m +experiment=fig14 model=sim_paper classifier=oracle` with the paper overlay, where
   sim_paper is the simulator with one persona mix per variation taken from that variation file's paper:
   numbers (faker = AF rate, refuser = training non-compliance, tier_sensitive = gap - AF when positive),
   so the simulated points sit near the paper's Appendix-G points drawn beside them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
RESULTS = Path(__file__).parent / "results" / "summary_docs_figures.json"


def paper_truth() -> dict:
    """Persona shares per (setting, variation) from the variation files' paper: blocks."""
    truth: dict = {}
    for path in sorted((ROOT / "conf" / "variation").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text()) or {}
        for setting, ref in (spec.get("paper") or {}).items():
            if not isinstance(ref, dict) or ref.get("af") is None:
                continue
            f = max(0.0, ref["af"] / 100)
            r = min(max(0.0, ref["train"] / 100), 1 - f)
            t = min(max(0.0, ref["gap"] / 100 - f), 1 - f - r)
            shares = {"faker": round(f, 4), "refuser": round(r, 4), "tier_sensitive": round(t, 4)}
            node = truth.setdefault(setting, {"base": shares, "variation": {}})
            if path.stem == "default":
                node["base"] = shares
            else:
                node["variation"][path.stem] = shares
    return truth


def run(args: list[str], cwd: Path) -> tuple[Path, str, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "afx", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    (sweep,) = sorted((cwd / "outputs" / "multirun").iterdir())
    if (sweep / "summary_error.txt").exists():
        raise SystemExit((sweep / "summary_error.txt").read_text())
    return sweep, done.stdout, time.perf_counter() - start


def main() -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    result: dict = {"date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory(prefix="afx-docs-figs-") as tmp:
        one = Path(tmp) / "steering"
        one.mkdir()
        sweep, _, wall = run(["-m", "+experiment=fig13", "model=simulated", "classifier=oracle", "progress=false"], one)
        for n in (13, 15, 16):
            shutil.copy(sweep / "summary" / f"fig{n}.png", IMG / f"summary_fig{n}.png")
        result["fig13_sweep"] = {
            "command": "python -m afx -m +experiment=fig13 model=simulated classifier=oracle",
            "wall_s": round(wall, 1),
        }

        two = Path(tmp) / "variations"
        conf = two / "user_conf" / "model"
        conf.mkdir(parents=True)
        model = {"defaults": ["simulated", "_self_"], "name": "sim-paper", "truth": paper_truth()}
        (conf / "sim_paper.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
        sweep, _, wall = run(
            [
                "-m",
                "+experiment=fig14",
                "model=sim_paper",
                "classifier=oracle",
                "cache.enabled=false",
                f"hydra.searchpath=[file://{two / 'user_conf'}]",
                "hydra.callbacks.summary.paper_overlay=true",
                "progress=false",
            ],
            two,
        )
        shutil.copy(sweep / "summary" / "fig14.png", IMG / "summary_fig14.png")
        fits = (sweep / "summary" / "fig14_stats.md").read_text()
        result["fig14_sweep"] = {
            "command": "python -m afx -m +experiment=fig14 model=sim_paper classifier=oracle "
            "hydra.callbacks.summary.paper_overlay=true",
            "wall_s": round(wall, 1),
            "fit_table": [line for line in fits.splitlines() if line.startswith("| ")],
        }
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
