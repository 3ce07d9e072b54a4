"""Next-token Yes/No probabilities from a judge model: llama-cpp-python in process, or an OpenAI-style server.

A scorer takes a chat (system text, then user/assistant turns ending with a user turn) and returns P(yes)
for the first token of the assistant's reply, normalised over the yes/no candidate tokens
(`classifier.candidates`). Nothing is sampled, so there is nothing to parse.

  local               llama.cpp: one forward pass over the tokens not already in the KV cache (the longest
                      common token prefix with the previous call is kept), then the full-vocabulary softmax
                      of the last position; the Llama object is the one the sampler uses (one per process).
  openai_compatible   `/completions` with the chat template rendered here (`model.continuation=completion`),
                      else `/chat/completions`; `max_tokens=1`, temperature 0, and the top `logprobs` of the
                      first token; a server that sends no log-probabilities is an error (one line).
"""

from __future__ import annotations

import ctypes
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

from afx.backends.base import GenerationRequest
from afx.errors import AfxError
from afx.sampling import TransientError

DEFAULT_CANDIDATES = {"yes_words": ["Yes", "yes", "YES"], "no_words": ["No", "no", "NO"]}
SCORABLE = ("local", "openai_compatible")


@dataclass(frozen=True)
class Chat:
    """A judge conversation: the fixed system text, then (role, text) turns ending with a user turn."""

    system: str
    turns: tuple[tuple[str, str], ...]
    prefill: str = ""  # text that starts the assistant's reply before the answer token
    fixed: int = 0  # leading turns that are fixed too (few-shot examples): kept in the KV cache with the system


@dataclass(frozen=True)
class Score:
    """P(yes) among the candidates (None: no candidate among the returned tokens), their total mass, cost."""

    p_yes: float | None
    mass: float
    new_tokens: int
    seconds: float
    hidden: Any = None  # the judge model's last hidden state at the answer position (numpy), when asked for


class LogprobScorer(Protocol):
    name: str
    model_name: str

    def identity(self) -> dict[str, Any]: ...

    def score(self, chat: Chat, hidden: bool = False) -> Score: ...

    def session(self) -> AbstractContextManager[None]: ...


def candidate_words(cfg: Mapping[str, Any] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The yes and no spellings; each is also tried with a leading space."""
    cfg = cfg or DEFAULT_CANDIDATES
    yes = tuple(str(w) for w in cfg.get("yes_words") or ())
    no = tuple(str(w) for w in cfg.get("no_words") or ())
    if not yes or not no:
        raise AfxError("classifier.candidates needs non-empty 'yes_words' and 'no_words' lists of answer spellings")
    return yes, no


def normalise(yes_p: float, no_p: float) -> float | None:
    total = yes_p + no_p
    return None if total <= 0.0 else yes_p / total


def make_scorer(
    judge: Mapping[str, Any],
    candidates: Mapping[str, Any] | None = None,
    prefix_slots: int = 4,
    restore_kv_cache: bool = True,
) -> LogprobScorer:
    """The scorer for a judge model config (`classifier.judge`); other backends cannot give log-probabilities."""
    backend = str(judge.get("backend"))
    if backend == "local":
        return LlamaScorer(judge, candidates, prefix_slots, restore_kv_cache)
    if backend == "openai_compatible":
        return OpenAIScorer(judge, candidates)
    raise AfxError(
        f"classifier.judge backend '{backend}' cannot be scored by log-probability "
        f"(scorable: {', '.join(SCORABLE)}); use classifier=llm_judge for generating judges"
    )


class _SeqState:
    """A copy of KV sequence 0 (llama_state_seq_*: only this sequence's cells, no logits) and its tokens."""

    def __init__(self, llm: Any) -> None:
        import llama_cpp

        ctx = llm._ctx.ctx
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        self.buf = (ctypes.c_uint8 * max(size, 1))()
        self.size = int(llama_cpp.llama_state_seq_get_data(ctx, self.buf, size, 0))
        self.tokens = [int(x) for x in llm.input_ids[: llm.n_tokens]]

    def restore(self, llm: Any) -> None:
        import llama_cpp

        llm._ctx.kv_cache_seq_rm(0, 0, -1)
        llm.n_tokens = 0
        if self.tokens:
            if int(llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, self.buf, self.size, 0)) == 0:
                llm._ctx.kv_cache_seq_rm(0, 0, -1)  # could not restore: start from an empty cache
                return
            llm.input_ids[: len(self.tokens)] = self.tokens
            llm.n_tokens = len(self.tokens)
        llm._requires_eval = True  # the current logits are not this state's


def _common_prefix(cached: Sequence[int], tokens: Sequence[int]) -> int:
    import numpy as np

    n = min(len(cached), len(tokens))
    a, b = np.asarray(cached[:n]), np.asarray(tokens[:n], dtype=np.asarray(cached[:n]).dtype)
    differ = np.nonzero(a != b)[0]
    return int(differ[0]) if len(differ) else n


class LlamaScorer:
    """llama-cpp-python: the exact softmax of the last position, reusing the KV cache's common prefix.

    Each judge's fixed prefix (the chat up to the first user text that is not a few-shot example) is kept
    as a KV state of its own
    (`prefix_slots` of them), so judges that take turns (compliance, then AF) never evaluate their
    instructions twice; and the KV state found at the start of a session (the sampler's, whose system
    prompt is long) is put back at its end when `restore_kv_cache` is on.
    """

    name = "local"
    _lock = threading.RLock()  # one in-process model: one session at a time

    def __init__(
        self,
        judge: Mapping[str, Any],
        candidates: Mapping[str, Any] | None = None,
        prefix_slots: int = 4,
        restore_kv_cache: bool = True,
    ) -> None:
        from afx.backends import make_backend

        self.backend = make_backend(dict(judge))  # the same LocalBackend (and Llama object) as the sampler's
        self.llm = self.backend.llm
        self.model_name = str(judge.get("name"))
        yes, no = candidate_words(candidates)
        self.yes_ids, self.no_ids = self._ids(yes), self._ids(no)
        if not self.yes_ids or not self.no_ids:
            raise AfxError(f"judge {self.model_name}: no single-token spelling of yes/no in classifier.candidates")
        self.prefix_slots = int(prefix_slots)
        self.restore_kv_cache = bool(restore_kv_cache)
        self._prefixes: OrderedDict[tuple[int, ...], _SeqState] = OrderedDict()
        self._heads: dict[str, list[int]] = {}
        self._depth = 0
        self._outer: _SeqState | None = None
        self._continuing = False  # a question of this session was scored: the next may extend its KV cells

    def _ids(self, words: Sequence[str]) -> list[int]:
        ids: set[int] = set()
        for word in words:
            for variant in (word, " " + word):
                tokens = self.llm.tokenize(variant.encode("utf-8"), add_bos=False, special=False)
                if len(tokens) == 1:
                    ids.add(int(tokens[0]))
        return sorted(ids)

    def identity(self) -> dict[str, Any]:
        # scorer_version is part of every cached score's key: 2 = a transcript's first question evaluated from the
        # saved instructions (scores of version 1 depended on what was judged before and are not reused)
        identity = {**self.backend.identity(), "scorer": "logits", "scorer_version": 2}
        return {**identity, "yes_ids": self.yes_ids, "no_ids": self.no_ids}

    def render(self, chat: Chat) -> str:
        return self.backend.render(GenerationRequest(chat.system, chat.turns, chat.prefill, {}, ""))

    @contextmanager
    def session(self) -> Iterator[None]:
        """Several questions on one transcript; the KV state found on entry is put back on exit.

        A session's first question is evaluated from the judge's fixed prefix, never from a longer match left in
        the cache (the same transcript judged just before): llama.cpp's logits depend slightly on how the tokens
        were split into batches, so this keeps a score independent of what was judged before it (the scores of
        one transcript moved by up to 0.04, and one label flipped, between two orders of the same items)."""
        with self._lock:
            outer = self._depth == 0 and self.restore_kv_cache and self.llm.n_tokens > 0 and not self._ours()
            if outer:
                self._outer = _SeqState(self.llm)
            if self._depth == 0:
                self._continuing = False
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if outer and self._outer is not None:
                    self._outer.restore(self.llm)
                    self._outer = None

    def _fixed_prefix(self, chat: Chat, tokens: list[int]) -> int:
        """How many leading tokens are the judge's fixed part (everything before the first non-fixed user text:
        the system text and the `chat.fixed` example turns)."""
        fixed_turns = chat.turns[: chat.fixed]
        key = json.dumps([chat.system, fixed_turns])
        if key not in self._heads:
            sentinel = "\u2063\u2063afx-transcript\u2063"
            text = self.render(Chat(chat.system, (*fixed_turns, ("user", sentinel))))
            head = text[: text.index(sentinel)]
            self._heads[key] = self.llm.tokenize(head.encode("utf-8"), add_bos=False, special=True)
        return min(_common_prefix(self._heads[key], tokens), len(tokens) - 1)

    def _ours(self) -> bool:
        """Whether the KV cache holds one of the judge's own prefixes (nothing of the sampler's to keep)."""
        held = self.llm.input_ids[: self.llm.n_tokens]
        return any(len(k) <= len(held) and _common_prefix(held, k) == len(k) for k in self._prefixes)

    def _load_prefix(self, tokens: list[int], fixed: int) -> int:
        """Make the KV cache start with tokens[:fixed], as saved (restored, or evaluated once from position 0 and
        saved), so its values never depend on what the cache held before; returns the tokens evaluated."""
        llm = self.llm
        key = tuple(tokens[:fixed])
        if fixed <= 0:
            return 0
        saved = self._prefixes.get(key)
        if saved is not None:
            self._prefixes.move_to_end(key)
            if _common_prefix(llm.input_ids[: llm.n_tokens], tokens) < fixed:
                saved.restore(llm)
            return 0
        llm.n_tokens = 0  # from position 0 in the same batches every time: the same KV values
        llm.eval(tokens[:fixed])
        self._save(key)
        return fixed

    def _save(self, key: tuple[int, ...]) -> None:
        self._prefixes[key] = _SeqState(self.llm)
        while len(self._prefixes) > self.prefix_slots:
            self._prefixes.popitem(last=False)

    def score(self, chat: Chat, hidden: bool = False) -> Score:
        """P(yes) at the answer position; with `hidden`, also the model's final hidden state there (the
        last token is evaluated with llama.cpp's embeddings output on, which leaves the logits unchanged)."""
        import numpy as np

        start = time.perf_counter()
        tokens = self.llm.tokenize(self.render(chat).encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self.llm.n_ctx():
            raise AfxError(f"judge prompt ({len(tokens)} tokens) exceeds the judge's n_ctx={self.llm.n_ctx()}")
        with self.session():
            fixed = self._fixed_prefix(chat, tokens) if self.prefix_slots > 0 else 0
            evaluated = self._load_prefix(tokens, fixed)
            common = min(_common_prefix(self.llm.input_ids[: self.llm.n_tokens], tokens), len(tokens) - 1)
            if not self._continuing:  # a session's first question reuses only the fixed prefix (see session())
                common = min(common, fixed)
            self._continuing = True
            evaluated += len(tokens) - common
            self.llm.n_tokens = common  # eval() drops the KV cells from here on
            state = None
            if hidden:
                self.llm.eval(tokens[common:-1])
                state = self._hidden_state(tokens[-1])
            else:
                self.llm.eval(tokens[common:])
            logits = np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(-1), shape=(self.llm.n_vocab(),))
            logits = logits.astype(np.float64)
        top = float(logits.max())
        log_z = top + math.log(float(np.exp(logits - top).sum()))
        yes_p = float(np.exp(logits[self.yes_ids] - log_z).sum())
        no_p = float(np.exp(logits[self.no_ids] - log_z).sum())
        return Score(normalise(yes_p, no_p), yes_p + no_p, evaluated, time.perf_counter() - start, state)

    def _hidden_state(self, last_token: int) -> Any:
        """Evaluate the prompt's last token with the embeddings output on; its final hidden state (a copy)."""
        import llama_cpp
        import numpy as np

        ctx = self.llm._ctx.ctx
        llama_cpp.llama_set_embeddings(ctx, True)
        try:
            self.llm.eval([last_token])
            pointer = llama_cpp.llama_get_embeddings_ith(ctx, -1)
            if not pointer:
                raise AfxError(f"judge {self.model_name}: llama.cpp returned no hidden state for the answer position")
            return np.ctypeslib.as_array(pointer, shape=(self.llm.n_embd(),)).astype(np.float64)
        finally:
            llama_cpp.llama_set_embeddings(ctx, False)


class OpenAIScorer:
    """An OpenAI-style server's top log-probabilities of the first reply token (completion or chat route)."""

    name = "openai_compatible"

    def __init__(self, judge: Mapping[str, Any], candidates: Mapping[str, Any] | None = None) -> None:
        from afx.backends.openai_compat import OpenAICompatibleBackend

        self.backend = OpenAICompatibleBackend(judge)
        self.model_name = str(judge.get("model") or judge.get("name"))
        self.top_k = int(judge.get("top_logprobs") or 20)
        self.max_attempts = int(judge.get("max_attempts") or 3)
        self.retry_wait_s = float(judge.get("retry_wait_s") or 1.0)
        yes, no = candidate_words(candidates)
        self.yes = {w.strip().lower() for w in yes}
        self.no = {w.strip().lower() for w in no}

    def identity(self) -> dict[str, Any]:
        return {**self.backend.identity(), "scorer": "top_logprobs", "top_k": self.top_k}

    def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self.backend._post(route, body)
            except TransientError:
                if attempt == self.max_attempts:
                    raise
                time.sleep(self.retry_wait_s * attempt)
        raise AssertionError("unreachable")

    def top_logprobs(self, chat: Chat) -> tuple[dict[str, float], int]:
        """{token text: logprob} of the first reply token, and the prompt tokens the server evaluated."""
        body: dict[str, Any] = {"model": self.backend.model_id, "max_tokens": 1, "temperature": 0.0}
        if self.backend.continuation == "completion":
            request = GenerationRequest(chat.system, chat.turns, chat.prefill, {}, "")
            body.update(prompt=self.backend.render(request), logprobs=self.top_k)
            reply = self._post("/completions", body)
            choice = (reply.get("choices") or [{}])[0]
            rows = (choice.get("logprobs") or {}).get("top_logprobs") or []
            top = dict(rows[0]) if rows and isinstance(rows[0], Mapping) else {}
        else:
            if chat.prefill:
                raise AfxError("a judge prefill needs model.continuation=completion on an OpenAI-style server")
            messages = [{"role": "system", "content": chat.system}]
            messages += [{"role": role, "content": text} for role, text in chat.turns]
            body.update(messages=messages, logprobs=True, top_logprobs=self.top_k)
            reply = self._post("/chat/completions", body)
            choice = (reply.get("choices") or [{}])[0]
            content = (choice.get("logprobs") or {}).get("content") or []
            first = content[0].get("top_logprobs") or [] if content else []
            top = {str(e.get("token")): float(e.get("logprob")) for e in first if e.get("logprob") is not None}
        if not top:
            raise AfxError(
                f"{self.backend.base_url} (model {self.model_id_text()}) returned no log-probabilities: "
                "the log-probability judge needs a server that returns top logprobs (vLLM, llama.cpp server)"
            )
        usage = reply.get("usage") or {}
        cached = int(((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
        return {str(k): float(v) for k, v in top.items()}, int(usage.get("prompt_tokens") or 0) - cached

    def session(self) -> AbstractContextManager[None]:
        return nullcontext()

    def model_id_text(self) -> str:
        return self.backend.model_id

    def score(self, chat: Chat, hidden: bool = False) -> Score:
        if hidden:
            raise AfxError(
                f"{self.backend.base_url}: an OpenAI-style server gives no hidden states, so a probe "
                "(classifier.compliance_probes) needs a local (llama.cpp) judge"
            )
        start = time.perf_counter()
        top, new_tokens = self.top_logprobs(chat)
        yes_p = no_p = 0.0
        for token, logprob in top.items():
            word = token.strip().lower()
            if word in self.yes:
                yes_p += math.exp(logprob)
            elif word in self.no:
                no_p += math.exp(logprob)
        return Score(normalise(yes_p, no_p), yes_p + no_p, new_tokens, time.perf_counter() - start)


def score_json(score: Score, **extra: Any) -> str:
    """A Score (and e.g. a probe's output) as the text of a cached response."""
    return json.dumps({"p_yes": score.p_yes, "mass": score.mass, **extra})
