"""Any OpenAI-style endpoint (vLLM, SGLang, llama.cpp servers, OpenAI): the path for open-weight models at scale.

Plain HTTP/JSON over the standard library (one keep-alive connection per worker thread), so it needs no extra
package. Prefill mode needs the server to continue a partial assistant turn; `model.continuation` says how:

  continue_final_message  /chat/completions with the prefill as the last assistant message and
                          `continue_final_message: true, add_generation_prompt: false` (vLLM >= 0.6.4, SGLang)
  completion              /completions with the chat template rendered here and the prefill appended
                          (llama.cpp's llama-server, llama-cpp-python's server, vLLM); the template comes from
                          `model.chat_template`: "gguf:<path>" (read from the GGUF), a file, or the template text
  none                    /chat/completions only (OpenAI itself, most hosted APIs): no prefill, so the config must
                          use prefix_mode=turn and empty prefills; anything else is a clear config error

Retries, concurrency, usage accounting and the response cache are the same as for every backend
(sampling.CachedBackend): 429 / 5xx / timeouts / dropped connections are retried honouring retry-after.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import ssl
import threading
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from afx.backends.anthropic_api import api_key
from afx.backends.anthropic_errors import retry_after_s
from afx.backends.base import GenerationRequest
from afx.errors import AfxError
from afx.sampling import TransientError, UsageGeneration

CONTINUATIONS = ("continue_final_message", "completion", "none")
TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}
# sampling keys that are afx's names for what OpenAI-style servers call something else
# errors of a request sent on a keep-alive connection the server had already closed
STALE_CONNECTION = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)
RENAMED = {"repeat_penalty": "repetition_penalty"}


def _prefills(model: Mapping[str, Any]) -> tuple[str, str]:
    prefill = model.get("prefill") or {}
    return str(prefill.get("first") or ""), str(prefill.get("next") or "")


def load_chat_template(source: str) -> str:
    """The Jinja chat template from "gguf:<path>", a template file, or the template text itself."""
    if source.startswith("gguf:"):
        path = Path(source[5:]).expanduser()
        if not path.is_file():
            raise AfxError(f"model.chat_template: GGUF file {path} does not exist")
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise AfxError("model.chat_template=gguf:... needs llama-cpp-python (pip install 'afx[local]')") from exc
        template = Llama(model_path=str(path), vocab_only=True, verbose=False).metadata.get("tokenizer.chat_template")
        if not template:
            raise AfxError(f"GGUF {path} has no chat template; give model.chat_template as text or a file")
        return str(template)
    if "{%" in source or "{{" in source:
        return source
    path = Path(source).expanduser()
    if not path.is_file():
        raise AfxError(f"model.chat_template {source!r} is neither template text, a file, nor gguf:<path>")
    return path.read_text(encoding="utf-8")


class OpenAICompatibleBackend:
    """Chat or raw completions on an OpenAI-style server; thread-safe (a connection per thread)."""

    name = "openai_compatible"
    rstrip_prefill = False

    @classmethod
    def validate_config(cls, model: Mapping[str, Any], has_prefix: bool, check_env: bool = True) -> None:
        if not model.get("base_url"):
            raise AfxError("model.base_url is required for openai_compatible (e.g. http://127.0.0.1:8000/v1)")
        if not (model.get("model") or model.get("name")):
            raise AfxError("model.model must name the served model (what the server's /v1/models lists)")
        continuation = str(model.get("continuation", "none"))
        if continuation not in CONTINUATIONS:
            raise AfxError(f"model.continuation={continuation!r} must be one of {', '.join(CONTINUATIONS)}")
        if model.get("api_key_env"):
            env, key = api_key(model, str(model["api_key_env"]))
            if check_env and not key:
                raise AfxError(f"{env} is not set: export it, or set model.api_key_env=null for a server without keys")
        first, nxt = _prefills(model)
        prefill_mode = str(model.get("prefix_mode", "prefill")) == "prefill"
        if continuation == "none" and (first or nxt or (prefill_mode and has_prefix)):
            raise AfxError(
                f"model {model.get('name')}: this endpoint cannot continue a partial assistant turn "
                f"(model.continuation=none), so nothing can be pre-filled: set model.prefix_mode=turn and "
                f"model.prefill.first='' model.prefill.next='', or use a server that can "
                f"(vLLM/SGLang: continuation=continue_final_message; llama.cpp: continuation=completion)"
            )
        if continuation == "completion" and not model.get("chat_template"):
            raise AfxError(
                "model.continuation=completion renders the chat template here: set model.chat_template "
                "(gguf:<path>, a template file, or the template text)"
            )

    def __init__(self, model: Mapping[str, Any]) -> None:
        self.validate_config(model, has_prefix=False)
        self._config = dict(model)
        self.base_url = str(model["base_url"]).rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AfxError(f"model.base_url={self.base_url!r} is not an http(s) URL")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port or (443 if self._https else 80)
        self._path = parts.path.rstrip("/")
        self.model_id = str(model.get("model") or model.get("name"))
        self.continuation = str(model.get("continuation", "none"))
        self.timeout_s = float(model.get("timeout_s", 600))
        self.send_seed = bool(model.get("send_seed", True))
        self.extra_body = dict(model.get("extra_body") or {})
        self._template_source = str(model.get("chat_template") or "")
        self.bos_token = str(model.get("bos_token") or "")
        self.eos_token = str(model.get("eos_token") or "")
        self.headers = {"content-type": "application/json"}
        if model.get("api_key_env"):
            env, key = api_key(model, str(model["api_key_env"]))
            self.key_env = env
            if key:
                self.headers["authorization"] = f"Bearer {key}"
        else:
            self.key_env = "the API key"
        self._local = threading.local()

    @classmethod
    def static_identity(cls, model: Mapping[str, Any]) -> dict[str, Any]:
        """The cache identity from the config alone (no key needed: `afx plan` uses it)."""
        continuation = str(model.get("continuation", "none"))
        ident: dict[str, Any] = {
            "backend": cls.name,
            "base_url": str(model["base_url"]).rstrip("/"),
            "model": str(model.get("model") or model.get("name")),
            "continuation": continuation,
        }
        if continuation == "completion":
            template = load_chat_template(str(model.get("chat_template") or ""))
            ident["chat_template_sha256"] = hashlib.sha256(template.encode()).hexdigest()[:16]
        if model.get("extra_body"):
            ident["extra_body"] = dict(model["extra_body"])
        return ident

    def identity(self) -> dict[str, Any]:
        return self._identity

    @cached_property
    def _identity(self) -> dict[str, Any]:
        return self.static_identity(self._config)

    # -- prompt rendering (continuation=completion) ------------------------------------------------------
    @cached_property
    def template_text(self) -> str:
        return load_chat_template(self._template_source)

    @cached_property
    def _template(self) -> Any:
        from jinja2.exceptions import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        return env.from_string(self.template_text)

    def render(self, request: GenerationRequest) -> str:
        """The chat template up to a fresh assistant turn, then the prefill."""
        messages = [{"role": "system", "content": request.system}]
        messages += [{"role": role, "content": content} for role, content in request.messages]
        prompt = self._template.render(
            messages=messages, add_generation_prompt=True, bos_token=self.bos_token, eos_token=self.eos_token
        )
        return prompt + request.prefill

    # -- HTTP ----------------------------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._https:
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout_s, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _post(self, route: str, body: Mapping[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode()
        try:
            try:
                reused = getattr(self._local, "conn", None) is not None
                conn = self._connection()
                conn.request("POST", f"{self._path}{route}", body=data, headers=self.headers)
                response = conn.getresponse()
            except STALE_CONNECTION:
                if not reused:
                    raise
                # the server closed an idle keep-alive connection (uvicorn does after 5 s): send again on a new one
                self._drop_connection()
                conn = self._connection()
                conn.request("POST", f"{self._path}{route}", body=data, headers=self.headers)
                response = conn.getresponse()
            raw = response.read()
        except TimeoutError as exc:
            self._drop_connection()
            raise TransientError("timeout", f"no answer within {self.timeout_s:g}s") from exc
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            self._drop_connection()
            raise TransientError("connection", f"{type(exc).__name__}: {exc}"[:200]) from exc
        if response.status == 200:
            try:
                return json.loads(raw)
            except ValueError as exc:
                raise TransientError("bad_json", raw[:120].decode(errors="replace")) from exc
        message = raw[:300].decode(errors="replace")
        try:
            err = json.loads(raw)
            message = str((err.get("error") or {}).get("message") or err.get("detail") or message)[:300]
        except (ValueError, AttributeError):
            pass
        status = response.status
        if status in TRANSIENT_STATUS or status >= 500:
            raise TransientError(str(status), message, retry_after_s(dict(response.getheaders())))
        where = f"{self.base_url} (model {self.model_id})"
        if status in (401, 403):
            raise AfxError(f"{self.key_env} was rejected by {where} (HTTP {status}: {message})")
        if status == 404:
            raise AfxError(f"{where}: HTTP 404 on {route} ({message}); check model.base_url and model.model")
        raise AfxError(f"{where} refused the request (HTTP {status}: {message})")

    def _params(self, request: GenerationRequest, seed: int) -> dict[str, Any]:
        params = {RENAMED.get(k, k): v for k, v in dict(request.params).items() if v is not None}
        if self.send_seed:
            params.setdefault("seed", seed)
        return {"model": self.model_id, **params, **self.extra_body}

    def generate(self, request: GenerationRequest, seed: int) -> UsageGeneration:
        body = self._params(request, seed)
        if self.continuation == "completion":
            body["prompt"] = self.render(request)
            reply = self._post("/completions", body)
            choice = reply["choices"][0]
            text = choice.get("text") or ""
        else:
            if request.prefill and self.continuation == "none":
                raise AfxError(f"{self.base_url} cannot continue a prefill (model.continuation=none)")
            messages = [{"role": "system", "content": request.system}]
            messages += [{"role": role, "content": content} for role, content in request.messages]
            if request.prefill:
                messages.append({"role": "assistant", "content": request.prefill})
                body.update(continue_final_message=True, add_generation_prompt=False)
            body["messages"] = messages
            reply = self._post("/chat/completions", body)
            choice = reply["choices"][0]
            message = choice.get("message") or {}
            text = message.get("content") or ""
            # a reasoning channel (vLLM / SGLang reasoning parsers, DeepSeek, OpenRouter): a leading <think> block
            reasoning = message.get("reasoning_content") or message.get("reasoning")
            if isinstance(reasoning, str) and reasoning.strip():
                text = "<think>\n" + reasoning.strip() + "\n</think>\n" + text
        usage = reply.get("usage") or {}
        cached = int(((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
        finish = str(choice.get("finish_reason") or "stop")
        return UsageGeneration(
            text,
            "length" if finish == "length" else finish,
            int(usage.get("prompt_tokens") or 0) - cached,
            int(usage.get("completion_tokens") or 0),
            cache_read_tokens=cached,
        )
