"""`afx variations`: list, check and size the prompt variations on the search path.

    afx variations                                    # table: name, settings, paper rows, description
    afx variations --setting helpful_only --rows-only # only files that correspond to a paper row
    afx variations --setting helpful_only --rows-only --sweep      # comma list for -m variation=...
    afx variations --setting helpful_only --rows-only --estimate data.limit=400 prefix=none
    afx variations --check                            # apply each variation to each setting it declares
    afx variations hydra.searchpath=[file:///path/to/my_conf]      # include your own variation/ folder

Everything that is not an option is a Hydra override, used to compose the config the way a run would
(search path, AFX_USER_CONF, data.limit, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from afx.errors import AfxError, one_line
from afx.paths import conf_dir
from afx.variations import VariationFile, apply_variations, list_variations

ABBREVIATIONS = {"helpful_only": "HO", "animal_welfare": "AW"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (via AfxError in afx.__main__)
        raise AfxError(message)


def _parser() -> _Parser:
    p = _Parser(prog="afx variations", description="List, check and size the prompt variations.", add_help=True)
    p.add_argument("--setting", help="only variations that apply to this setting")
    p.add_argument("--rows-only", action="store_true", help="only files that correspond to paper rows")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--sweep", action="store_true", help="print the names comma-separated, for -m variation=...")
    out.add_argument("--json", action="store_true", help="print one JSON object per variation")
    out.add_argument("--estimate", action="store_true", help="print the size of the sweep over these variations")
    out.add_argument("--check", action="store_true", help="apply every variation to every setting it declares")
    p.add_argument("overrides", nargs="*", help="Hydra overrides (hydra.searchpath=[...], data.limit=..., ...)")
    return p


def _compose(overrides: list[str]) -> Any:
    """The config a run would see (with the hydra node), composed from the bundled conf dir."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            return compose("config", overrides=overrides, return_hydra_config=True)
    except Exception as exc:  # noqa: BLE001 - any composition failure is a command-line / config problem
        raise AfxError(f"cannot compose the config: {one_line(str(exc))}") from exc
    finally:
        GlobalHydra.instance().clear()


def _sources(cfg: Any) -> list[tuple[str, str]]:
    return [(str(s.schema), str(s.path)) for s in cfg.hydra.runtime.config_sources if str(s.schema) in ("file", "pkg")]


def _settings_label(v: VariationFile) -> str:
    return " ".join(ABBREVIATIONS.get(s, s) for s in v.settings) or "any"


def _table(found: list[VariationFile]) -> str:
    builtin = str(conf_dir())
    rows = [("name", "settings", "paper rows", "description")]
    notes: list[str] = []
    for v in found:
        desc = str(v.spec.get("description") or "")
        if not v.path.startswith(builtin):
            desc += f"  [{v.path}]"
        rows.append((v.name, _settings_label(v), ", ".join(map(str, v.paper_rows)) or "-", desc))
        notes += [
            f"note: {s} is hidden by {v.path} (the first file of a name on the search path wins)" for s in v.shadows
        ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 11)
    per = {s: sum(s in v.settings for v in found) for s in sorted({s for v in found for s in v.settings})}
    lines.append("")
    lines.append(f"{len(found)} variation files; per setting: " + ", ".join(f"{s} {n}" for s, n in per.items()))
    return "\n".join(lines + notes)


def _estimate(found: list[VariationFile], cfg: Any, setting: str | None) -> str:
    from omegaconf import OmegaConf

    data = cfg.data
    settings = [setting] if setting else sorted({s for v in found for s in v.settings})
    prefixes = 1
    samples = int(data.samples_per_query)
    max_turns = int(OmegaConf.select(cfg, "model.max_turns", default=4) or 4)
    lines = []
    total_t = 0
    for s in settings:
        n_var = sum(1 for v in found if not v.settings or s in v.settings)
        if data.limit is not None:
            n_q: int | str = int(data.limit)
        else:
            n_q = _count_queries(s)
        per_job = f"{n_q} queries x 2 tiers x {samples} sample(s)"
        if isinstance(n_q, int):
            t = n_var * prefixes * n_q * 2 * samples
            total_t += t
            lines.append(
                f"{s}: {n_var} variations x {prefixes} prefix = {n_var * prefixes} jobs; each job {per_job} "
                f"= {n_q * 2 * samples} transcripts; {t:,} transcripts in all"
            )
        else:
            lines.append(f"{s}: {n_var} variations = {n_var} jobs; each job {per_job} ({n_q})")
    if total_t:
        train = total_t // 2
        lines.append(
            f"total: {total_t:,} transcripts = {total_t:,} to {total_t * max_turns:,} model calls "
            f"(1 to model.max_turns={max_turns} per transcript; cached calls are free on a rerun)"
        )
        lines.append(
            f"LLM-judge calls (paper.md 8: AF partial + AF full + compliance per training transcript, compliance per "
            f"unmonitored one): about {3 * train + (total_t - train):,}; none with classifier=heuristic"
        )
    lines.append("set the sample size with data.limit=N (null = every query); add prefixes with one sweep per prefix")
    return "\n".join(lines)


def _count_queries(setting: str) -> int | str:
    """Size of a setting's full query set, if its sources can be read here."""
    from omegaconf import OmegaConf

    from afx.queries import load_queries

    try:
        raw = OmegaConf.load(conf_dir() / "setting" / f"{setting}.yaml")
        return len(load_queries(list(raw.queries.sources), None, 0))
    except Exception as exc:  # noqa: BLE001 - only an estimate
        return f"full query set; size unknown here: {one_line(str(exc))[:80]}"


def _check(found: list[VariationFile], cfg: Any) -> tuple[str, int]:
    """Apply each variation to each setting it declares and render the prompt; report every failure."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from afx.prompts import TierCue, build_system_prompt

    HydraConfig.instance().set_config(cfg)
    by_name = {f.name: f for f in list_variations(_sources(cfg))}
    failures, ok = [], 0
    settings: dict[str, dict[str, Any]] = {}
    for v in found:
        for s in v.settings or sorted(ABBREVIATIONS):
            if s not in settings:
                raw = OmegaConf.to_container(OmegaConf.load(conf_dir() / "setting" / f"{s}.yaml"), resolve=True)
                assert isinstance(raw, dict)
                settings[s] = raw
            try:
                setting = apply_variations(settings[s], {v.name: v.spec}, resolve=by_name.get)
                TierCue.from_mapping(setting.get("tier_cue") or {}, f"setting {s}")
                build_system_prompt(setting)
                ok += 1
            except AfxError as exc:
                failures.append(f"FAIL {v.name} on {s}: {one_line(str(exc))}")
    lines = [*failures, f"{ok} variation/setting pairs compose, {len(failures)} fail"]
    return "\n".join(lines), 1 if failures else 0


def main(argv: list[str]) -> int:
    """Entry point of `afx variations`."""
    args = _parser().parse_args(argv)
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        raise AfxError(f"'{bad[0]}' is neither an option nor a Hydra override (key=value); see afx variations --help")
    cfg = _compose(list(args.overrides))
    found = list_variations(_sources(cfg))
    if args.setting:
        known = sorted({s for v in found for s in v.settings})
        if args.setting not in known:
            raise AfxError(f"--setting {args.setting}: no variation declares it (known: {', '.join(known)})")
        found = [v for v in found if not v.settings or args.setting in v.settings]
    if args.rows_only:  # with --setting: a paper row in that setting (share_values is a row in AW only)
        found = [v for v in found if v.paper_rows and (not args.setting or args.setting in (v.spec.get("paper") or {}))]
    if args.sweep:
        print(",".join(v.name for v in found))
    elif args.json:
        keys = ("settings", "paper_rows", "description", "stack", "paper")
        for v in found:
            print(json.dumps({"name": v.name, "path": v.path, **{k: v.spec.get(k) for k in keys}}))
    elif args.estimate:
        print(_estimate(found, cfg, args.setting))
    elif args.check:
        text, code = _check(found, cfg)
        print(text)
        return code
    else:
        print(_table(found))
    sys.stdout.flush()
    return 0
