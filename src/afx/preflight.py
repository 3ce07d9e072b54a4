"""Validate the command line before Hydra runs anything: one clear line per problem, exit code 2."""

from __future__ import annotations

import re
from itertools import islice

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from afx.errors import AfxError, one_line
from afx.paths import conf_dir

FLAGS_WE_VALIDATE = {"-m", "--multirun"}
_MISSING_OPTION = re.compile(r"Could not find '([^']+)'")
_AVAILABLE = re.compile(r"Available options in '([^']+)':\s*((?:\s+\S+)+)")


def _explain(exc: Exception) -> str:
    """Hydra / OmegaConf / YAML errors as one line that names the key and the allowed values."""
    text = str(exc)
    missing = _MISSING_OPTION.search(text)
    if missing:
        group, _, option = missing.group(1).rpartition("/")
        options = _AVAILABLE.search(text)
        allowed = ", ".join(options.group(2).split()) if options else "see conf/" + group
        return f"unknown option '{option}' for '{group}' (choose from: {allowed})"
    if "Key '" in text and "is not in struct" in text:
        key = re.search(r"Key '([^']+)'", text)
        return f"unknown config key '{key.group(1) if key else '?'}' ({one_line(text).split('full_key:')[-1].strip()})"
    if "Missing mandatory value" in text:
        return f"missing value: {one_line(text)}"
    return one_line(text)


def _sweep_values(args: list[str]) -> list[list[str]]:
    """Each override as a list of concrete overrides (a sweep 'a,b' becomes ['k=a', 'k=b'])."""
    parsed = OverridesParser.create().parse_overrides(args)
    expanded: list[list[str]] = []
    for override in parsed:
        key = override.get_key_element()
        if override.is_choice_sweep() or override.is_range_sweep():
            expanded.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        elif override.is_sweep_override():
            continue  # glob / interval sweeps only select among existing options
        else:
            expanded.append([override.input_line])
    return expanded


def validate(argv: list[str]) -> None:
    """Compose each value of each sweep axis once and build its job spec; raise AfxError on the first problem."""
    from afx.job import build_job_spec

    args = [a for a in argv if a not in FLAGS_WE_VALIDATE]
    if any(a.startswith("-") for a in args):
        return  # --cfg, --help, -cd ... are Hydra's own business
    try:
        axes = _sweep_values(args)
    except HydraException as exc:
        raise AfxError(f"cannot parse the command line: {_explain(exc)}") from exc
    base = [values[0] for values in axes]
    combos = [list(base)]
    for i, values in enumerate(axes):
        for value in islice(values, 1, None):
            combos.append(base[:i] + [value] + base[i + 1 :])
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            for overrides in combos:
                try:
                    cfg = compose("config", overrides=overrides, return_hydra_config=True)
                    HydraConfig.instance().set_config(cfg)
                    job_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
                    build_job_spec(job_cfg, load_data=True)
                except AfxError:
                    raise
                except (HydraException, OmegaConfBaseException, ValueError, KeyError) as exc:
                    raise AfxError(_explain(exc)) from exc
    finally:
        GlobalHydra.instance().clear()
