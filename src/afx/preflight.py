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

from afx.errors import AfxError, one_line
from afx.paths import conf_dir

FLAGS_WE_VALIDATE = {"-m", "--multirun"}
_MISSING_OPTION = re.compile(r"Could not find '([^']+)'")
_AVAILABLE = re.compile(r"Available options in '([^']+)':\n((?:\t[^\n]+\n?)+)")
_NO_KEY = re.compile(r"Could not override '([^']+)'")


def _explain(exc: Exception) -> str:
    """Hydra / OmegaConf / YAML errors as one line that names the key and the allowed values."""
    text = str(exc)
    missing = _MISSING_OPTION.search(text)
    if missing:
        group, _, option = missing.group(1).rpartition("/")
        options = _AVAILABLE.search(text)
        allowed = ", ".join(options.group(2).split()) if options else "see conf/" + group
        return f"unknown option '{option}' for '{group}' (choose from: {allowed})"
    no_key = _NO_KEY.search(text)
    if no_key:
        return f"unknown config key '{no_key.group(1)}'"
    if "Key '" in text and "is not in struct" in text:
        key = re.search(r"Key '([^']+)'", text)
        return f"unknown config key '{key.group(1) if key else '?'}' ({one_line(text).split('full_key:')[-1].strip()})"
    if "Missing mandatory value" in text:
        key = re.search(r"full_key: (\S+)", text)
        return f"missing value for '{key.group(1) if key else '?'}' (set it on the command line or in its YAML)"
    if "yaml" in type(exc).__module__ or "while parsing" in text or "while scanning" in text:
        where = re.search(r'in "([^"]+)", line (\d+)', text)
        at = f" in {where.group(1)} line {where.group(2)}" if where else ""
        first = one_line(text).split(' in "')[0]
        return f"broken YAML{at}: {first}"
    return one_line(text)


def _allowed_keys(exc: Exception, overrides: list[str]) -> str:
    """For an unknown key, the keys that do exist at that level (composed without the bad override)."""
    found = _NO_KEY.search(str(exc))
    if not found:
        return ""
    path = found.group(1)
    rest = [o for o in overrides if not o.startswith(path + "=")]
    try:
        cfg = compose("config", overrides=rest)
    except Exception:  # noqa: BLE001 - best effort only
        return ""
    parent = path.rpartition(".")[0]
    node = OmegaConf.select(cfg, parent) if parent else cfg
    while node is None or not hasattr(node, "keys"):
        parent = parent.rpartition(".")[0]
        node = OmegaConf.select(cfg, parent) if parent else cfg
    return f" (keys at '{parent or '<top>'}': {', '.join(map(str, node.keys()))}; add a new key with +{path}=...)"


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
                except Exception as exc:  # noqa: BLE001 - any composition failure is a config problem
                    raise AfxError(_explain(exc) + _allowed_keys(exc, overrides)) from exc
    finally:
        GlobalHydra.instance().clear()
