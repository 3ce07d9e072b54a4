"""Time composing every shipped variation for every setting it declares (writes bench/results/compose_variations.json).

Usage: .venv/bin/python bench/compose_variations.py [repeats]

Measures, per setting:
  hydra_all_s   one Hydra compose with all of the setting's variation files in variation=[...] (loads and
                checks every YAML the way a run does)
  overlay_s     afx's part for every (variation, setting) pair: expand stacks, apply ops, check conflicts,
                render the system prompt and both user turns
and, separately, the Hydra compose of one job (one variation), which a sweep pays once per job.
The goal of issue 6 is hydra_all_s + overlay_s, summed over settings, under 2 s.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from afx.paths import conf_dir
from afx.prompts import TierCue, build_system_prompt, build_user_turn
from afx.variations import apply_variations, list_variations

SETTINGS = ("helpful_only", "animal_welfare")


def _compose(overrides: list[str]):
    cfg = compose("config", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    job = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    return OmegaConf.to_container(job, resolve=True)


def run_once() -> dict:
    library = list_variations([("file", str(conf_dir()))])
    out: dict = {"settings": {}}
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        for setting in SETTINGS:
            names = [v.name for v in library if setting in v.settings]
            t0 = time.perf_counter()
            raw = _compose([f"setting={setting}", "model=simulated", f"variation=[{','.join(names)}]"])
            hydra_all = time.perf_counter() - t0
            t1 = time.perf_counter()
            for name in names:
                composed = apply_variations(raw["setting"], {name: raw["variation"][name]})
                build_system_prompt(composed)
                cue = TierCue.from_mapping(composed["tier_cue"], setting)
                build_user_turn("How do I X?", "train", cue)
                build_user_turn("How do I X?", "unmonitored", cue)
            overlay = time.perf_counter() - t1
            t2 = time.perf_counter()
            for name in names[:10]:
                _compose([f"setting={setting}", "model=simulated", f"variation=[{name}]"])
            per_job = (time.perf_counter() - t2) / min(10, len(names))
            out["settings"][setting] = {
                "variations": len(names),
                "hydra_all_s": round(hydra_all, 3),
                "overlay_s": round(overlay, 3),
                "hydra_compose_one_job_ms": round(per_job * 1000, 1),
            }
    GlobalHydra.instance().clear()
    out["total_s"] = round(sum(s["hydra_all_s"] + s["overlay_s"] for s in out["settings"].values()), 3)
    return out


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    runs = [run_once() for _ in range(repeats)]
    best = min(runs, key=lambda r: r["total_s"])
    result = {
        "what": "compose every shipped variation for every setting it declares (Hydra once per setting + afx overlay)",
        "files": len(list(Path(conf_dir(), "variation").glob("*.yaml"))),
        "pairs": sum(s["variations"] for s in best["settings"].values()),
        "best_of": repeats,
        "total_s": best["total_s"],
        "median_total_s": round(statistics.median(r["total_s"] for r in runs), 3),
        "goal_s": 2.0,
        "settings": best["settings"],
        "machine": f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    path = Path(__file__).parent / "results" / "compose_variations.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
