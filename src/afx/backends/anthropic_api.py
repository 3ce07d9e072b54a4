"""Claude through the official `anthropic` SDK: prefill or turn mode, prompt caching, retries, usage.

- The API key is read from the environment variable named by `model.api_key_env` (never from config).
- The system prompt carries `cache_control` (prompt caching), so after the first call of a job every call
  reads the shared system prompt from the server's cache; its ttl is `model.cache_ttl` (5m) online and
  `model.batch_cache_ttl` (1h) in batch mode (anthropic_cache.py: per-model minimum, TTL, 1-hour write price).
- The SDK's own retries are off (`max_retries=0`): afx retries (sampling.CachedBackend) and counts every
  retry by reason. Here, HTTP 429 / 529 / 5xx, timeouts and dropped connections become `TransientError`
  (with the server's retry-after); everything the user must fix (bad key, unknown or retired model, prefill
  on a model that rejects it) becomes one clear `AfxError` line.
- Sampling: API version 2026-10-21 (the SDK 2.x default) rejects temperature / top_p / top_k at any value,
  so temperature 1.0 (the paper's value, and the API default) is not sent; any other value needs
  `model.api_version: "2023-06-01"` (sent as the anthropic-version header) on a model that still takes it.
- Before the first request of the process the key and model id are checked once (GET /v1/models/{id});
  a fully cached rerun makes no request at all. `model.verify=false` skips the check.
- `model.request_processes` > 1 sends the requests from that many worker processes, each with its own SDK client
  (request_processes.py): the SDK's Python per call then runs under several GILs. Same requests, same errors.
- Thinking (`model.thinking`, docs/backends.md "Thinking"; the settings: anthropic_thinking.py): `off` sends the
  model's off switch
  (`model.thinking_off_type`: {"type": "disabled"}, or {"type": "between_tools"} on Claude Sonnet 5.5, which answers
  400 to "disabled"); `recorded` sends adaptive (or budgeted) thinking with `model.thinking_display`, and every
  thinking block becomes a leading `<think>` block of the turn's text. Earlier turns' thinking blocks go back with
  their signatures (`model.thinking_history`). `model.effort` is sent as output_config.effort (null: not sent).
- Stop reasons: refusal, pause_turn and model_context_window_exceeded come back as their own finish reasons
  (sampling turns them into the statuses api_refusal / pause_turn / context_window_exceeded); any other unknown
  stop reason as "unknown_stop:<reason>".
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from afx.backends.anthropic_cache import cache_control, cache_ttl
from afx.backends.anthropic_errors import (
    ApiFailure,
    ErrorContext,
    describe_failure,
    failure_error,
    fatal,
)
from afx.backends.anthropic_thinking import OMITTED_THINKING, THINK_CLOSE, THINK_OPEN, ThinkingSettings
from afx.backends.base import GenerationRequest
from afx.backends.lifecycle import check_model_id
from afx.errors import AfxError
from afx.sampling import UsageGeneration

log = logging.getLogger(__name__)
QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "anthropic")  # no per-request INFO lines
SAMPLING_KEYS = ("max_tokens", "temperature", "top_p", "top_k", "stop_sequences")
# API version 2026-10-21 (the default of SDK 2.x) answers HTTP 400 to temperature / top_p / top_k at any value;
# 2023-06-01 still takes them on the models that accept them. temperature 1.0 is the API's default.
LEGACY_API_VERSION = "2023-06-01"
EXTRA_SAMPLING = ("temperature", "top_p", "top_k")
# stop_reason literals of anthropic 2.17 (anthropic/types/stop_reason.py) -> afx finish reasons. refusal, pause_turn
# and model_context_window_exceeded end the transcript with a status of their own (sampling.STOP_STATUS); tool_use
# (afx sends no tools) and any reason the SDK does not list become "unknown_stop:<reason>", a named failure.
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "refusal",
    "pause_turn": "pause_turn",
    "model_context_window_exceeded": "context_window_exceeded",
}
# The Claude 4.6 generation and later answer HTTP 400 to a trailing assistant message (design.md). The version is
# read from the model id: claude-<family>-<major>[-<minor>][-<date>] (claude-opus-4-5-20251101, claude-sonnet-5-5,
# claude-sonnet-4-20250514) or the older claude-<major>[-<minor>]-<family>[-<date>] / claude-2.1 / claude-instant-1.2;
# also inside provider ids (anthropic.claude-...-v1:0, claude-...@date). A minor version has 1-2 digits (not a date).
_CLAUDE_ID = re.compile(r"claude-[a-z]+-(\d{1,2})(?:-(\d{1,2}))?(?!\d)")
_CLAUDE_OLD_ID = re.compile(r"claude-(?:instant-)?(\d{1,2})(?:[-.](\d{1,2}))?(?!\d)")
FIRST_WITHOUT_PREFILL = (4, 6)
# Claude Opus 4.7 and every later model (Opus 4.8, Sonnet 5, the 5.x family) answer HTTP 400 to temperature, top_p
# or top_k set to a non-default value, whatever the anthropic-version header (Anthropic's migration guides for
# Opus 4.7 and Sonnet 5); an id whose version cannot be read is treated the same (new models are the ones without).
FIRST_WITHOUT_SAMPLING = (4, 7)


def api_key(model: Mapping[str, Any], default_env: str) -> tuple[str, str | None]:
    """(variable name, its value or None). A key written into the config itself is refused."""
    for field in ("api_key", "key"):
        if model.get(field):
            raise AfxError(
                f"model.{field} is set in the config: API keys come from the environment only; "
                f"set model.api_key_env to the NAME of the variable that holds the key"
            )
    env = str(model.get("api_key_env") or default_env)
    return env, (os.environ.get(env) or None)


def claude_version(model_id: str) -> tuple[int, int] | None:
    """(major, minor) of a Claude model id, or None when the id does not say (e.g. claude-mythos-preview)."""
    match = _CLAUDE_ID.search(model_id) or _CLAUDE_OLD_ID.search(model_id)
    return None if match is None else (int(match.group(1)), int(match.group(2) or 0))


def prefill_known_supported(model_id: str) -> bool:
    """Whether the id is of a model known to accept assistant prefill: Claude 1 to 4.5. The 4.6 generation and
    later reject it, and so does an id whose version cannot be read (new models are the ones without prefill);
    `model.supports_prefill: true` overrides this for such a model."""
    version = claude_version(model_id)
    return version is not None and version < FIRST_WITHOUT_PREFILL


def sampling_known_supported(model_id: str) -> bool:
    """Whether the id is of a model known to take non-default temperature / top_p / top_k: Claude 1 to 4.6."""
    version = claude_version(model_id)
    return version is not None and version < FIRST_WITHOUT_SAMPLING


def sampling_supported(model: Mapping[str, Any]) -> bool:
    """The capability flag `model.supports_sampling_params`, defaulting to what is known of the model id."""
    flag = model.get("supports_sampling_params")
    return bool(flag) if flag is not None else sampling_known_supported(str(model.get("name", "")))


def check_sampling(model: Mapping[str, Any], sampling: Mapping[str, Any]) -> None:
    """temperature (other than the API default 1.0), top_p and top_k only go to a model that takes them, under an
    API version that takes them: one line otherwise, before any call (the model's and a judge's config)."""
    extra = [f"{k}={sampling[k]}" for k in EXTRA_SAMPLING if _sent(k, sampling.get(k), legacy=False)]
    if not extra:
        return
    name = model.get("name")
    if not sampling_supported(model):
        raise AfxError(
            f"{', '.join(extra)} for model={name}: Claude Opus 4.7 and later models (and ids whose version cannot "
            f"be read) answer HTTP 400 to non-default temperature, top_p or top_k whatever model.api_version says; "
            f"drop them (temperature 1.0 is the default), or set model.supports_sampling_params=true if this model "
            f"does take them"
        )
    if not model.get("api_version"):
        raise AfxError(
            f"{', '.join(extra)} for model={name}: the Messages API (version 2026-10-21) rejects temperature, top_p "
            f"and top_k at any value; drop them (temperature 1.0 is the default) or set "
            f"model.api_version={LEGACY_API_VERSION} on a model that still accepts them"
        )


def prefill_supported(model: Mapping[str, Any]) -> bool:
    """The capability flag `model.supports_prefill`, defaulting to what is known of the model id."""
    flag = model.get("supports_prefill")
    return bool(flag) if flag is not None else prefill_known_supported(str(model.get("name", "")))


def check_prefill_config(model: Mapping[str, Any], has_prefix: bool) -> None:
    """A model without prefill needs prefix_mode=turn and empty prefills (design.md, platform facts)."""
    if prefill_supported(model):
        return
    prefill = model.get("prefill") or {}
    name = model.get("name")
    why = (
        "the Claude 4.6 generation and later answer HTTP 400"
        if claude_version(str(name or ""))
        else "its version cannot be read from the id; set model.supports_prefill=true if it does accept prefill"
    )
    if model.get("prefix_mode", "prefill") != "turn" and has_prefix:
        raise AfxError(
            f"model {name} rejects assistant prefill ({why}): "
            f"set model.prefix_mode=turn (the prefix becomes a completed assistant turn followed by <NEXT/>)"
        )
    if prefill.get("first") or prefill.get("next"):
        raise AfxError(
            f"model {name} rejects assistant prefill ({why}): set model.prefill.first='' and model.prefill.next='' "
            f"(got {prefill.get('first')!r} / {prefill.get('next')!r})"
        )


def _otel_option(value: Any) -> Any:
    """The SDK's `open_telemetry` option from `model.open_telemetry`: false (default) = no spans (afx counts calls
    itself, and a span costs CPU on every call even without an exporter); true = spans with the SDK's defaults;
    a mapping = the SDK's options; null = the SDK's own default (ANTHROPIC_OPEN_TELEMETRY*, the global provider)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    return {} if value else False


def _sent(key: str, value: Any, legacy: bool) -> bool:
    """Whether a sampling parameter goes into the request (never the API default temperature 1.0 unless legacy)."""
    if value is None:
        return False
    return legacy or not (key == "temperature" and float(value) == 1.0)


def _thought_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AnthropicBackend:
    """Claude via the Messages API. Thread-safe: one SDK client shared by every worker."""

    name = "anthropic"
    rstrip_prefill = True  # the API rejects a final assistant message that ends in whitespace
    default_key_env = "ANTHROPIC_API_KEY"

    @classmethod
    def validate_config(cls, model: Mapping[str, Any], has_prefix: bool, check_env: bool = True) -> None:
        """Config problems as one line, before any call: key variable, model id, prefill capability."""
        if not model.get("name"):
            raise AfxError("model.name must be the Anthropic model id (e.g. claude-sonnet-5-5)")
        check_model_id(cls.name, model)
        env, key = api_key(model, cls.default_key_env)
        if check_env and not key:
            raise AfxError(
                f"{env} is not set: export {env}=<your Anthropic API key> (model={model.get('name')} reads the key "
                f"from the variable named by model.api_key_env)"
            )
        sampling = model.get("sampling") or {}
        unknown = set(sampling) - set(SAMPLING_KEYS)
        if unknown:
            raise AfxError(
                f"model.sampling has keys the Messages API does not take: {', '.join(sorted(unknown))} "
                f"(allowed: {', '.join(SAMPLING_KEYS)})"
            )
        check_sampling(model, sampling)
        processes = model.get("request_processes", 1)
        if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
            raise AfxError(f"model.request_processes must be a whole number >= 1, got {processes!r}")
        check_prefill_config(model, has_prefix)
        thinking = ThinkingSettings.from_model(model)
        prefill = model.get("prefill") or {}
        prefilled = prefill.get("first") or prefill.get("next") or (has_prefix and model.get("prefix_mode") != "turn")
        if thinking.recorded and prefilled:
            raise AfxError(
                f"model.thinking=recorded with assistant prefill (model={model.get('name')}): the API does not "
                f"pre-fill a reply while thinking is on; set model.prefix_mode=turn and empty model.prefill, "
                f"or model.thinking=off"
            )

    def __init__(self, model: Mapping[str, Any]) -> None:
        self.validate_config(model, has_prefix=False)
        self.model_id = str(model["name"])
        env, key = api_key(model, self.default_key_env)
        self.key_env = env
        self.base_url = model.get("base_url") or None
        self.timeout_s = float(model.get("timeout_s", 600))
        self.cache_system_prompt = bool(model.get("cache_system_prompt", True))
        self.cache_control = cache_control(cache_ttl(model))  # batch mode: 1h (model.batch_cache_ttl), online 5m
        self.prompt_cache = self.cache_system_prompt  # CachedBackend: warm the server cache with one call first
        self.verify_first = bool(model.get("verify", True))
        self.verify_timeout_s = min(float(model.get("verify_timeout_s") or 20.0), self.timeout_s)
        self.retired_note = str(model.get("retired") or "")
        self.batch_poll_s = float(model.get("batch_poll_s", 30.0))
        self.max_attempts = int(model.get("max_attempts") or 3)
        self.api_version = str(model.get("api_version") or "") or None
        self.model_facts = {  # what check_sampling reads of the config, per request
            "name": self.model_id,
            "api_version": self.api_version,
            "supports_sampling_params": model.get("supports_sampling_params"),
        }
        self.open_telemetry = _otel_option(model.get("open_telemetry", False))
        self.request_processes = int(model.get("request_processes", 1))
        self.max_concurrency = int(model.get("max_concurrency") or 1)
        self.thinking = ThinkingSettings.from_model(model)
        self._thoughts: dict[str, list[dict[str, Any]]] = {}  # turn text -> its thinking blocks, as returned
        self._thoughts_lock = threading.Lock()
        self.thinking_history_missing = 0  # earlier turns sent back without their thinking blocks (not known here)
        self._processes: Any = None  # request_processes.RequestProcesses, started on the first fresh call
        self._key = key
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._verified = False
        self._verify_lock = threading.Lock()

    @property
    def _sdk(self) -> Any:
        import anthropic  # imported on first use: a fully cached rerun never loads the SDK

        return anthropic

    def client_options(self) -> dict[str, Any]:
        """The SDK client's options (here and in request processes); its own retries are off."""
        headers = {"anthropic-version": self.api_version} if self.api_version else None
        otel = {} if self.open_telemetry is None else {"open_telemetry": self.open_telemetry}
        return {
            "api_key": self._key,
            "base_url": self.base_url,
            "max_retries": 0,
            "timeout": self.timeout_s,
            "default_headers": headers,
            **otel,
        }

    @property
    def client(self) -> Any:
        """The SDK client, made on first use (thread-safe)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    for name in QUIET_LOGGERS:
                        logging.getLogger(name).setLevel(logging.WARNING)
                    self._client = self._sdk.Anthropic(**self.client_options())
        return self._client

    @property
    def processes(self) -> Any:
        """The request processes (model.request_processes > 1), started on first use (thread-safe)."""
        if self._processes is None:
            with self._client_lock:
                if self._processes is None:
                    from afx.backends.request_processes import RequestProcesses

                    self._processes = RequestProcesses(
                        self.request_processes,
                        self.client_options(),
                        threads=-(-self.max_concurrency // self.request_processes),
                        wait_s=self.timeout_s + 30,
                    )
        return self._processes

    def release(self) -> None:
        """Stop the request processes, if any (at a job's end; the next fresh call starts them again)."""
        with self._client_lock:
            processes, self._processes = self._processes, None
        if processes is not None:
            processes.close()

    @classmethod
    def static_identity(cls, model: Mapping[str, Any]) -> dict[str, Any]:
        """The cache identity from the config alone (no key needed: `afx plan` uses it)."""
        ident: dict[str, Any] = {"backend": cls.name, "model": str(model["name"])}
        if model.get("base_url"):
            ident["base_url"] = str(model["base_url"])
        ident.update(ThinkingSettings.from_model(model).identity())  # thinking, effort: they change the answer
        return ident

    def identity(self) -> dict[str, Any]:
        ident = self.static_identity({"name": self.model_id, "base_url": self.base_url})
        ident.pop("thinking", None)
        return {**ident, **self.thinking.identity()}

    def _assistant_content(self, text: str) -> Any:
        """An earlier assistant turn as sent back: with thinking recorded, the leading `<think>` block that parse()
        wrote is taken off the text, and the thinking blocks it came from go back first, signatures intact
        (model.thinking_history=keep), so the model sees its own earlier thinking as it sees its scratchpad."""
        if not self.thinking.recorded or not text.startswith(THINK_OPEN):
            return text
        end = text.find(THINK_CLOSE)
        rest = text[end + len(THINK_CLOSE) :] if end >= 0 else text
        if self.thinking.history == "drop":
            return rest
        with self._thoughts_lock:
            blocks = self._thoughts.get(_thought_key(text))
            if blocks is None:
                self.thinking_history_missing += 1
                if self.thinking_history_missing == 1:
                    log.warning(
                        "an earlier turn's thinking blocks are not known in this process (its answer came from the "
                        "response cache); it is sent back without them"
                    )
        if blocks is None:
            return rest
        return [*blocks, {"type": "text", "text": rest}] if rest else list(blocks)

    # -- requests and responses (also used by the batch runner) --------------------------------------------
    def request_params(self, request: GenerationRequest) -> dict[str, Any]:
        """The Messages API parameters for one assistant turn (prefill as a trailing assistant message)."""
        system: Any = request.system
        if self.cache_system_prompt and request.system:
            system = [{"type": "text", "text": request.system, "cache_control": dict(self.cache_control)}]
        messages = [
            {"role": role, "content": self._assistant_content(content) if role == "assistant" else content}
            for role, content in request.messages
        ]
        if request.prefill:
            messages.append({"role": "assistant", "content": request.prefill.rstrip()})
        params: dict[str, Any] = {"model": self.model_id, "system": system, "messages": messages}
        sampling = dict(request.params)
        params["max_tokens"] = int(sampling.pop("max_tokens", 4000))
        if self.thinking.recorded and self.thinking.max_tokens is not None:
            params["max_tokens"] = self.thinking.max_tokens  # thinking tokens count toward max_tokens
        params["thinking"] = self.thinking.param()
        if self.thinking.effort is not None:
            params["output_config"] = {"effort": self.thinking.effort}
        check_sampling(self.model_facts, sampling)  # a request's own params (a judge's temperature) too
        for key in EXTRA_SAMPLING:
            if _sent(key, sampling.get(key), legacy=bool(self.api_version)):
                params[key] = sampling[key]
        if sampling.get("stop_sequences"):
            params["stop_sequences"] = list(sampling["stop_sequences"])
        return params

    def parse(self, message: Any) -> UsageGeneration:
        """Text after the prefill (a matched stop sequence is put back), finish reason and usage, from a Message
        as JSON (the online path) or as an SDK object (batch results).

        Thinking: `thinking` content blocks become one leading `<think>...</think>` block of the text
        (`redacted_thinking` as `<think>[redacted thinking]</think>`; a block with the display omitted, empty text
        and a signature, as OMITTED_THINKING), so the reasoning is cached, shown, parsed and classified like a
        scratchpad; the blocks themselves are kept to be sent back with the next turn.

        Finish reason: FINISH; a refusal with a stop_details category is "refusal:<category>"; a stop reason
        not in FINISH is "unknown_stop:<reason>". Usage: output_tokens includes thinking tokens (the SDK's
        Usage.output_tokens_details.thinking_tokens says how many; kept as thinking_tokens)."""
        if not isinstance(message, Mapping):
            message = message.to_dict()
        content = message.get("content") or ()
        text = "".join(block.get("text") or "" for block in content if block.get("type") == "text")
        raw = [dict(block) for block in content if block.get("type") in ("thinking", "redacted_thinking")]
        thoughts = [
            "[redacted thinking]"
            if block["type"] == "redacted_thinking"
            else (str(block.get("thinking") or "").strip() or OMITTED_THINKING)
            for block in raw
        ]
        if thoughts:
            text = THINK_OPEN + "\n\n".join(thoughts) + THINK_CLOSE + text
        stop_reason, stop_sequence = message.get("stop_reason"), message.get("stop_sequence")
        if stop_reason == "stop_sequence" and stop_sequence:
            text += stop_sequence
        if raw and self.thinking.recorded and self.thinking.history == "keep":
            with self._thoughts_lock:
                self._thoughts[_thought_key(text)] = raw
        finish = FINISH.get(str(stop_reason)) or f"unknown_stop:{stop_reason}"
        category = (message.get("stop_details") or {}).get("category")
        if finish == "refusal" and category:
            finish = f"refusal:{category}"
        usage = message.get("usage") or {}
        return UsageGeneration(
            text,
            finish,
            int(usage.get("input_tokens") or 0),
            int(usage.get("output_tokens") or 0),
            cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
            cache_write_tokens=int(usage.get("cache_creation_input_tokens") or 0),
            thinking_tokens=int((usage.get("output_tokens_details") or {}).get("thinking_tokens") or 0),
        )

    def generate(self, request: GenerationRequest, seed: int) -> UsageGeneration:
        params = self.request_params(request)
        extra = {key: params.pop(key) for key in EXTRA_SAMPLING if key in params}  # not in the SDK 2.x signature
        if self.request_processes > 1:
            from afx.backends.request_processes import RemoteFailure

            try:
                body = self.processes.create(params, extra or None)
            except RemoteFailure as exc:
                raise self.failure_error(exc.failure) from None
            return self.parse(json.loads(body))
        try:
            # The raw response's JSON: the same request, retries and errors as messages.create (a non-2xx answer
            # still raises APIStatusError), without building the typed Message we would only read five fields of.
            raw = self.client.messages.with_raw_response.create(**params, extra_body=extra or None)
            message = raw.http_response.json()
        except self._sdk.AnthropicError as exc:
            raise self.translate(exc) from exc
        return self.parse(message)

    def translate(self, exc: Exception) -> Exception:
        """An SDK exception as TransientError (retry) or AfxError (the user must act); others unchanged."""
        failure = describe_failure(exc, self._sdk)
        return exc if failure is None else self.failure_error(failure)

    @property
    def error_context(self) -> ErrorContext:
        return ErrorContext(self.model_id, self.key_env, self.timeout_s, self.retired_note)

    def failure_error(self, failure: ApiFailure) -> Exception:
        """TransientError (retry) or AfxError (the user must act): anthropic_errors.failure_error."""
        return failure_error(failure, self.error_context)

    def fatal(self, status: int, kind: str, message: str) -> AfxError:
        return fatal(status, kind, message, self.error_context)

    def verify(self) -> None:
        """Check key and model once per process, before the first request: 3 attempts of at most
        `model.verify_timeout_s` each on transient faults, then the check is skipped (logged), never a long hang."""
        if self._verified or not self.verify_first:
            return
        with self._verify_lock:
            if self._verified:
                return
            for attempt in range(3):
                try:
                    self.client.with_options(timeout=self.verify_timeout_s).models.retrieve(self.model_id)
                    break
                except Exception as exc:  # noqa: BLE001
                    err = self.translate(exc)
                    if isinstance(err, AfxError):
                        raise err from None
                    log.warning("key/model check failed (%s); %s", err, "retrying" if attempt < 2 else "skipped")
                    time.sleep(0.5 * (attempt + 1))
            self._verified = True

    def batch_runner(self, cache: Any, cache_path: Path, progress: bool = True) -> Any:
        """Message Batches for model.batch=true; its state (batch ids) lives next to the response cache."""
        from afx.backends.batches import BatchRunner

        return BatchRunner(
            self, cache, Path(f"{cache_path}.batches.sqlite"), poll_s=self.batch_poll_s, progress=progress
        )
