"""The embedded local model: llama-cpp-python, one model object per process, prefix KV cache reused."""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from afx.backends.base import Generation, GenerationRequest
from afx.backends.gguf import resolve_model_path, sha256_file
from afx.errors import AfxError
from afx.transcript import OUTPUT_CLOSE, SCRATCH_CLOSE

CLOSING_TAGS = (SCRATCH_CLOSE, OUTPUT_CLOSE)
_MODELS: dict[tuple[str, int, int], Any] = {}


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_llama(path: Path, n_ctx: int, n_threads: int) -> Any:
    """One Llama object per (file, context, threads) per process, so jobs of a multirun share its KV cache."""
    key = (str(path), n_ctx, n_threads)
    if key not in _MODELS:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise AfxError("model=local needs llama-cpp-python: pip install 'llama-cpp-python==0.3.36'") from exc
        _MODELS.clear()  # never hold two models at once
        _MODELS[key] = Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, verbose=False
        )
    return _MODELS[key]


@atexit.register
def _close_models() -> None:
    """Free the model before interpreter teardown: llama-cpp's own __del__ at exit can find its C bindings already
    gone and print an ignored TypeError traceback (seen at the end of a test worker)."""
    for model in list(_MODELS.values()):
        with contextlib.suppress(Exception):
            model.close()
    _MODELS.clear()


class _TagStop:
    """Stops generation right after a closing tag, and remembers that it did (EOS looks the same otherwise)."""

    def __init__(self, llm: Any, prompt_len: int, tags: tuple[str, ...]) -> None:
        self.llm, self.prompt_len, self.tags, self.hit = llm, prompt_len, tags, False

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        if len(input_ids) <= self.prompt_len:
            return False
        # cheap check first: only a token that contains ">" can complete a closing tag
        if b">" not in self.llm.detokenize([int(input_ids[-1])]):
            return False
        tail_ids = list(input_ids[max(self.prompt_len, len(input_ids) - 10) :])
        tail = self.llm.detokenize(tail_ids).decode("utf-8", errors="ignore")
        self.hit = any(tag in tail for tag in self.tags)
        return self.hit


def _trim_after_tag(text: str) -> str:
    ends = [text.find(tag) + len(tag) for tag in CLOSING_TAGS if tag in text]
    return text[: min(ends)] if ends else text


class LocalBackend:
    """llama.cpp on the CPU; renders the GGUF's own chat template and continues the prefill."""

    name = "local"
    exclusive = True  # one in-process model at a time

    def __init__(self, model: Mapping[str, Any]) -> None:
        self.path = resolve_model_path(model)
        self.n_ctx = int(model.get("n_ctx", 8192))
        self.n_threads = int(model.get("n_threads") or available_cores())
        self.stop_at_closing_tags = bool(model.get("stop_at_closing_tags", True))
        gguf = model.get("gguf") or {}
        self._sha = gguf.get("sha256") if not model.get("path") else None
        self.llm = load_llama(self.path, self.n_ctx, self.n_threads)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise AfxError(f"GGUF {self.path} has no chat template; give a chat model")
        self.eos = str(model.get("eos_token", "<|im_end|>"))
        self.formatter = Jinja2ChatFormatter(
            template=template, eos_token=self.eos, bos_token=str(model.get("bos_token", "<|endoftext|>"))
        )

    def identity(self) -> dict[str, Any]:
        sha = self._sha or sha256_file(self.path)
        return {"backend": self.name, "model_sha256": sha, "stop_at_closing_tags": self.stop_at_closing_tags}

    def render(self, request: GenerationRequest) -> str:
        """The full prompt: chat template up to a fresh assistant turn, then the prefill."""
        messages = [{"role": "system", "content": request.system}]
        messages += [{"role": role, "content": content} for role, content in request.messages]
        return self.formatter(messages=messages).prompt + request.prefill

    def generate(self, request: GenerationRequest, seed: int) -> Generation:
        prompt = self.render(request)
        tokens = self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        p = request.params
        if len(tokens) + int(p.get("max_tokens", 512)) > self.n_ctx:
            raise AfxError(f"prompt ({len(tokens)} tokens) + max_tokens exceeds model.n_ctx={self.n_ctx}")
        stopper = _TagStop(self.llm, len(tokens), CLOSING_TAGS) if self.stop_at_closing_tags else None
        from llama_cpp import StoppingCriteriaList

        result = self.llm.create_completion(
            tokens,
            max_tokens=int(p.get("max_tokens", 512)),
            temperature=float(p.get("temperature", 1.0)),
            top_p=float(p.get("top_p", 1.0)),
            top_k=int(p.get("top_k", 0)),
            min_p=float(p.get("min_p", 0.0)),
            repeat_penalty=float(p.get("repeat_penalty", 1.0)),
            seed=seed,
            stop=[self.eos],
            stopping_criteria=StoppingCriteriaList([stopper]) if stopper else None,
        )
        choice = result["choices"][0]
        text = choice["text"]
        finish = choice.get("finish_reason") or "stop"
        if stopper is not None and stopper.hit:
            text, finish = _trim_after_tag(text), "closing_tag"
        usage = result.get("usage") or {}
        return Generation(text, finish, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
