"""Secrets never reach MLflow, outputs or logs: the one place that decides what is secret.

Two checks, used for params, tags, every config file afx writes (and the ones Hydra writes), and log records:

* by KEY: the value of a secret-shaped key (`is_secret_key`) becomes `<redacted>`, in config trees and in
  `key=value` override strings;
* by VALUE: the values of the environment variables named by any `*_env` key of the config (`api_key_env:
  ANTHROPIC_API_KEY`) and anything shaped like an API key (`sk-ant-...`, `sk-...`) are replaced wherever text is
  written.

`api_key_env` (and any `*_env` key) stays visible: it holds the NAME of a variable, not a secret; that variable's
value is what is scrubbed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

REDACTED = "<redacted>"

# Key shapes (lower case, '-' read as '_', last dotted segment) whose values are secret.
SECRET_NAMES = frozenset(
    [
        "api_key",
        "apikey",
        "x_api_key",
        "key_secret",
        "credentials",
        "credential",
        "private_key",
        "auth",
        "authorization",
        "proxy_authorization",
        "password",
        "passwd",
        "passphrase",
        "secret",
        "client_secret",
        "token",
        "bearer",
        "cookie",
        "session_token",
    ]
)
SECRET_SUFFIXES = ("_key", "_apikey", "_token", "_secret", "_password", "_credentials", "_auth")
# Look-alikes that stay visible: token counts, tokenizer special tokens, bookkeeping keys, env variable NAMES.
VISIBLE_NAMES = frozenset(
    [
        "max_tokens",
        "max_new_tokens",
        "max_completion_tokens",
        "max_tokens_thinking",
        "budget_tokens",
        "thinking_budget_tokens",
        "bos_token",
        "eos_token",
        "pad_token",
        "unk_token",
        "sep_token",
        "cls_token",
        "mask_token",
        "cache_key",
        "sort_key",
        "sample_key",
        "primary_key",
        "foreign_key",
        "key",
        "keys",
    ]
)
VISIBLE_SUFFIXES = ("_env", "_tokens")
# Values shaped like provider API keys (Anthropic sk-ant-..., OpenAI sk-... / sk-proj-...).
KEY_SHAPED = re.compile(r"\bsk-(?:ant-)?[A-Za-z0-9_\-]{16,}")
# Well-known key variables, scrubbed when set even if no config names them.
KNOWN_KEY_ENV = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_AUTH_TOKEN")
MIN_SECRET_CHARS = 6  # shorter env values are not replaced in text (they would match ordinary words)
ASSIGNMENT = re.compile(r"(?<![^\s'\"\[,(])(?P<key>[~+]{0,2}[\w.\-/@]+)=(?P<value>[^\s'\",\])]+)")
OVERRIDE = re.compile(r"^(?P<key>[~+]{0,2}[\w.\-/@]+)=(?P<value>.*)$", re.DOTALL)
# The password in a URL's userinfo (postgresql+psycopg://user:PASSWORD@host/db for cache.url; Hydra writes '\:').
URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][\w+.\-]*\\?://[^\s/:@'\"\\]*\\?:)(?P<password>[^\s/@'\"]+)(?=@)")


def _norm(key: Any) -> str:
    return str(key).rsplit(".", 1)[-1].strip().lower().replace("-", "_")


def is_secret_key(key: Any) -> bool:
    """True when a key (`x-api-key`, `model.headers.Authorization`, `openai_key`) names a secret value."""
    name = _norm(key)
    if name in VISIBLE_NAMES or name.endswith(VISIBLE_SUFFIXES):
        return False
    return name in SECRET_NAMES or name.endswith(SECRET_SUFFIXES)


def secret_values(tree: Any = None) -> set[str]:
    """Values to scrub from text: the variables named by `*_env` keys in `tree`, the known key variables, and
    any string value under a secret key."""
    names: set[str] = set(KNOWN_KEY_ENV)
    found: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list | tuple):
            for v in node:
                walk(v, key)
        elif isinstance(node, str):
            if _norm(key).endswith("_env") and node:
                names.add(node)
            elif is_secret_key(key):
                found.add(node)

    walk(tree)
    found.update(os.environ.get(name, "") for name in names)
    return {v for v in found if len(v) >= MIN_SECRET_CHARS and v != REDACTED}


def _assignment(match: re.Match[str]) -> str:
    return f"{match['key']}={REDACTED}" if is_secret_key(match["key"].lstrip("~+")) else match[0]


def scrub_text(text: str, values: Iterable[str] = ()) -> str:
    """`text` with every known secret value, every key-shaped string and the value of every secret `key=value`
    (an override as Hydra's launcher logs it) and every URL's password replaced by `<redacted>`."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = URL_PASSWORD.sub(lambda m: m["head"] + REDACTED, text)
    return ASSIGNMENT.sub(_assignment, KEY_SHAPED.sub(REDACTED, text))


def redact_override(text: str, values: Iterable[str] = ()) -> str:
    """`model.headers.x-api-key=abc` -> `model.headers.x-api-key=<redacted>`; other strings are only scrubbed."""
    match = OVERRIDE.match(text)
    if match and is_secret_key(match["key"].lstrip("~+")):
        return f"{match['key']}={REDACTED}"
    return scrub_text(text, values)


def redact_tree(tree: Any, values: Iterable[str] = ()) -> Any:
    """A copy of a config tree with secret keys' values `<redacted>` and secret text scrubbed."""
    values = tuple(values)
    if isinstance(tree, Mapping):
        return {k: REDACTED if is_secret_key(k) and v is not None else redact_tree(v, values) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [redact_tree(v, values) for v in tree]
    if isinstance(tree, str):
        return redact_override(tree, values)
    return tree


def config_yaml(cfg: Any) -> str:
    """The resolved config as YAML, redacted (what afx writes as `config.yaml`)."""
    from omegaconf import DictConfig, OmegaConf

    tree = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    values = secret_values(tree)
    text = yaml.safe_dump(redact_tree(tree, values), sort_keys=False, allow_unicode=True)
    return scrub_text(text, values)


def redact_yaml_file(path: Path, values: Iterable[str] = ()) -> bool:
    """Rewrite a YAML file (Hydra's `.hydra/*.yaml`, `multirun.yaml`) redacted, atomically; True if it changed."""
    try:
        text = path.read_text(encoding="utf-8")
        tree = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    values = set(values) | secret_values(tree)
    new = scrub_text(yaml.safe_dump(redact_tree(tree, values), sort_keys=False, allow_unicode=True), values)
    if new == text or yaml.safe_load(new) == tree:
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)
    return True


def redact_hydra_files(out_dir: Path, sweep_dir: Path | None, values: Iterable[str] = ()) -> None:
    """Redact the config files Hydra wrote for this job (and the sweep's `multirun.yaml`)."""
    paths = [out_dir / ".hydra" / n for n in ("config.yaml", "overrides.yaml", "hydra.yaml")]
    if sweep_dir is not None:
        paths.append(sweep_dir / "multirun.yaml")
    for path in paths:
        if path.is_file():
            redact_yaml_file(path, values)


_LOG_VALUES: set[str] = set()
_factory_installed = False


def _scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is left for logging's own error report
        return
    clean = scrub_text(message, _LOG_VALUES)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info), _LOG_VALUES)


def install_log_filter(values: Iterable[str] = ()) -> None:
    """Scrub every log record this process creates (Hydra's job log file, the console, the launcher's lines),
    whatever handlers Hydra configures later: a wrapper around the log record factory, installed once."""
    global _factory_installed
    _LOG_VALUES.update(values)
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


def protect_job(cfg: Any, out_dir: Path) -> set[str]:
    """At a job's start: scrub its log handlers and rewrite the config files Hydra wrote, redacted; returns the
    secret values found (the `*_env` variables' values)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig, OmegaConf

    tree = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    values = secret_values(tree)
    install_log_filter(values)
    sweep_dir = None
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        sweep_dir = Path(HydraConfig.get().sweep.dir)
    redact_hydra_files(out_dir, sweep_dir, values)
    return values
