"""Validate the command line before Hydra runs anything: one clear line per problem, exit code 2.

Each job config of the sweep is composed once and checked: value types and ranges against afx.config_schema's
table (key, allowed values and the value given in one line), then the job spec (setting, variations, prefix,
query files), then the response cache's folder (it must take a file: a read-only folder is named as such).

Then reach every service the jobs will use, once, with a short timeout (`preflight.reach`,
`preflight.timeout_s`): the model's and the LLM judge's configured `base_url` (a TCP connect) and the MLflow
store (a tracking server: a TCP connect; a SQLite or file store: its folder must be writable, and an existing
SQLite file must start with SQLite's header). An endpoint the config leaves to the SDK default (no base_url) is
not checked here; the backend's own key/model check is.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob
from hydra.errors import HydraException
from omegaconf import OmegaConf

from afx import tracking_server
from afx.cache_pg import preflight as cache_preflight
from afx.config_schema import check_config
from afx.errors import AfxError, one_line
from afx.paths import conf_dir
from afx.run_owner import Liveness

FLAGS_WE_VALIDATE = {"-m", "--multirun"}
_MISSING_OPTION = re.compile(r"Could not find '([^']+)'")
_AVAILABLE = re.compile(r"Available options in '([^']+)':\n((?:\t[^\n]+\n?)+)")
_NO_KEY = re.compile(r"Could not override '([^']+)'")
_NOT_LOADED = re.compile(r"Could not load '([^']+)/([^'/]+)'")
MAX_LISTED = 25
DEFAULT_PORTS = {"http": 80, "https": 443}
SQLITE_HEADER = b"SQLite format 3\x00"
REACH_HINT = "check the URL and that the server runs, or set preflight.reach=false"


def _explain(exc: Exception) -> str:
    """Hydra / OmegaConf / YAML errors as one line that names the key and the allowed values."""
    text = str(exc)
    missing = _MISSING_OPTION.search(text)
    if missing:
        group, _, option = missing.group(1).rpartition("/")
        options = _AVAILABLE.search(text)
        allowed = ", ".join(options.group(2).split()) if options else "see conf/" + group
        return f"unknown option '{option}' for '{group}' (choose from: {allowed})"
    not_loaded = _NOT_LOADED.search(text)
    if not_loaded:
        group, option = not_loaded.groups()
        try:
            options = sorted(GlobalHydra.instance().config_loader().get_group_options(group))
        except Exception:  # noqa: BLE001 - listing is best effort
            options = []
        shown = ", ".join(options[:MAX_LISTED]) + (
            f", ... ({len(options) - MAX_LISTED} more)" if len(options) > MAX_LISTED else ""
        )
        return f"unknown option '{option}' for '{group}' (choose from: {shown or 'see conf/' + group})"
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


def _loader_with_user_dirs(args: list[str]) -> ConfigLoaderImpl:
    """A config loader that also sees user config dirs (AFX_USER_CONF, hydra.searchpath=[...]) for globs."""
    search_path = create_config_search_path(str(conf_dir()))
    dirs = [os.environ["AFX_USER_CONF"]] if os.environ.get("AFX_USER_CONF") else []
    for override in OverridesParser.create().parse_overrides([a for a in args if a.startswith("hydra.searchpath=")]):
        value = override.value()
        dirs += [str(v) for v in (value if isinstance(value, list) else [value])]
    for entry in dirs:
        search_path.append("afx-user", entry if "://" in entry else f"file://{entry}")
    return ConfigLoaderImpl(config_search_path=search_path)


def _sweep_values(args: list[str]) -> list[list[str]]:
    """Each override as a list of concrete overrides (a sweep 'a,b' or a glob becomes ['k=a', 'k=b'])."""
    parsed = OverridesParser.create(config_loader=_loader_with_user_dirs(args)).parse_overrides(args)
    expanded: list[list[str]] = []
    for override in parsed:
        key = override.get_key_element()
        if override.is_choice_sweep() or override.is_range_sweep() or isinstance(override.value(), Glob):
            values = [f"{key}={value}" for value in override.sweep_string_iterator()]
            if not values:
                raise AfxError(f"the sweep '{override.input_line}' selects no option")
            expanded.append(values)
        elif override.is_sweep_override():
            continue  # interval sweeps are for optimising sweepers
        else:
            expanded.append([override.input_line])
    return expanded


def validate(argv: list[str]) -> None:
    """Compose each value of each sweep axis once and build its job spec; raise AfxError on the first problem."""
    from afx.job import build_job_spec
    from afx.variations import InapplicableVariation

    multirun = any(a in FLAGS_WE_VALIDATE for a in argv)
    skipped = 0
    args = [a for a in argv if a not in FLAGS_WE_VALIDATE]
    if any(a.startswith("-") for a in args):
        return  # --cfg, --help, -cd ... are Hydra's own business
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            try:
                axes = _sweep_values(args)
            except HydraException as exc:
                raise AfxError(f"cannot parse the command line: {_explain(exc)}") from exc
            base = [values[0] for values in axes]
            combos = [list(base)]
            for i, values in enumerate(axes):
                for value in islice(values, 1, None):
                    combos.append(base[:i] + [value] + base[i + 1 :])
            services: dict[str, tuple[str, float]] = {}
            for overrides in combos:
                try:
                    cfg = compose("config", overrides=overrides, return_hydra_config=True)
                    HydraConfig.instance().set_config(cfg)
                    job_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
                    check_config(job_cfg)  # types and ranges (afx.config_schema), before anything reads them
                    build_job_spec(job_cfg, load_data=True)
                    check_cache_folder(job_cfg)
                    Liveness.from_config(job_cfg.tracking)  # tracking.heartbeat_*_s
                    services.update(_services(job_cfg))
                    tracking_server.preflight(job_cfg)  # a tracking server keeps the artifacts
                    cache_preflight(job_cfg)  # cache.url: driver installed, PostgreSQL answers
                except InapplicableVariation:
                    if not multirun:
                        raise
                    skipped += 1
                except AfxError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any composition failure is a config problem
                    raise AfxError(_explain(exc) + _allowed_keys(exc, overrides)) from exc
            for target, (label, timeout_s) in services.items():
                reach(label, target, timeout_s)
    finally:
        GlobalHydra.instance().clear()


def _services(cfg: Any) -> dict[str, tuple[str, float]]:
    """{URL or store URI: (the config key that names it, timeout)} for one composed job config."""
    section = OmegaConf.select(cfg, "preflight") or {}
    if not section.get("reach", True):
        return {}
    timeout_s = float(section.get("timeout_s", 3.0))
    found: dict[str, tuple[str, float]] = {}
    for key in ("model.base_url", "classifier.judge.base_url"):
        url = OmegaConf.select(cfg, key, default=None)
        if url:
            found[str(url)] = (key, timeout_s)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        found[os.environ["MLFLOW_TRACKING_URI"]] = ("MLFLOW_TRACKING_URI", timeout_s)
    elif uri := OmegaConf.select(cfg, "tracking.uri", default=None):
        found[str(uri)] = ("tracking.uri", timeout_s)
    else:
        try:
            root = str(OmegaConf.select(cfg, "paths.root"))
        except Exception:  # noqa: BLE001 - ${hydra:runtime.cwd} outside a run
            root = os.getcwd()
        found[f"sqlite:///{Path(root) / 'mlruns' / 'mlflow.db'}"] = ("tracking.uri", timeout_s)
    return found


def reach(label: str, target: str, timeout_s: float) -> None:
    """One TCP connect to an http(s) endpoint, or a write check of a local MLflow store; AfxError if it fails."""
    parts = urlsplit(target)
    if parts.scheme in DEFAULT_PORTS:
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise AfxError(f"{label} {target} has no valid port") from None
        try:
            socket.create_connection((parts.hostname or "", port), timeout=timeout_s).close()
        except ConnectionRefusedError:
            raise AfxError(f"cannot reach {label} {target} (connection refused); {REACH_HINT}") from None
        except TimeoutError:
            raise AfxError(f"cannot reach {label} {target} (no answer within {timeout_s:g}s); {REACH_HINT}") from None
        except socket.gaierror:
            raise AfxError(f"cannot reach {label} {target} (unknown host {parts.hostname}); {REACH_HINT}") from None
        except OSError as exc:
            raise AfxError(f"cannot reach {label} {target} ({exc.strerror or exc}); {REACH_HINT}") from None
    elif parts.scheme in ("sqlite", "file", ""):
        text = unquote(parts.path)
        path = Path(text[1:] if parts.scheme == "sqlite" else text)  # sqlite:///rel.db, sqlite:////abs.db
        store = path.parent if parts.scheme == "sqlite" else path
        _check_writable(target, store, path if parts.scheme == "sqlite" else None)
        if parts.scheme == "sqlite":
            _check_sqlite_header(target, path)


def _check_sqlite_header(uri: str, db: Path) -> None:
    """An existing, non-empty store file starts with SQLite's header (else MLflow fails deep in a callback)."""
    try:
        with db.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except (FileNotFoundError, IsADirectoryError):
        return
    except OSError as exc:
        raise AfxError(f"MLflow store {uri} cannot be read ({exc.strerror or exc}); set tracking.uri") from None
    if head and head != SQLITE_HEADER:
        raise AfxError(
            f"MLflow store {uri} is not an SQLite database (file {db} has no SQLite header); "
            "move the file away or set tracking.uri"
        )


def check_cache_folder(cfg: Any) -> None:
    """The response cache's folder (or its nearest existing ancestor) takes a new file, and the file is writable.

    Without this, SQLite's 'unable to open database file' reads like a damaged cache.
    """
    cache = OmegaConf.select(cfg, "cache") or {}
    if not cache.get("enabled", True) or cache.get("url") or not cache.get("path"):
        return
    path = Path(str(cache.get("path")))
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    hint = f"(cache.path={path}); fix the permissions, set cache.path, or cache.enabled=false"
    if not existing.is_dir():
        raise AfxError(f"response cache folder {existing} is a file, not a folder {hint}")
    if path.exists() and not os.access(path, os.W_OK):
        raise AfxError(f"response cache file {path} is read-only {hint}")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".afx-write-probe-"):
            pass
    except OSError:
        raise AfxError(f"response cache folder {existing} is read-only {hint}") from None


def _check_writable(uri: str, folder: Path, db: Path | None) -> None:
    """The store's folder (or its nearest existing ancestor) takes a new file, and an existing db is writable."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    why = ""
    if db is not None and db.exists() and not os.access(db, os.W_OK):
        why = f"file {db} is read-only"
    else:
        try:
            with tempfile.NamedTemporaryFile(dir=existing, prefix=".afx-write-probe-"):
                pass
        except OSError:
            why = f"folder {existing} is read-only"
    if why:
        raise AfxError(f"MLflow store {uri} is not writable ({why}); fix the permissions or set tracking.uri")
