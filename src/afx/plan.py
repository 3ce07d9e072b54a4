"""`afx plan <the same overrides as a sweep>`: what a sweep will cost before it runs.

Prints the jobs, model calls, judge calls, estimated tokens and cost, and how much the response cache already
holds. The cache share is exact where it can be: each sample's turn loop is replayed from the cache (the
first uncached turn ends the replay), so "cached" counts responses that will not be requested again; the
calls still to make are that first miss plus an estimate of the turns after it. Token and cost figures are
estimates (4 characters per token, `plan.output_tokens` per call), priced with `model.pricing` (the system
prompt written to the prompt cache once per job and read by every other call, if it reaches the model's minimum
cacheable length `model.cache_min_tokens`, else no cache at all; 1-hour writes at `pricing.cache_write_1h` in
batch mode) and `classifier.judge.pricing`.

    afx plan -m setting=helpful_only,animal_welfare prefix=none,deceptive,obedient model=anthropic
    afx plan --json ...    (one JSON object instead of the table)
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from afx.backends import backend_class, make_backend
from afx.backends.anthropic_cache import cache_min_tokens, effective_pricing, estimate_tokens
from afx.cache import ResponseStore, open_store
from afx.classify.llm_judge import expected_calls_per_transcript
from afx.config_schema import check_config
from afx.errors import AfxError
from afx.job import JobSpec, build_job_spec
from afx.paths import conf_dir
from afx.preflight import _explain, _sweep_values
from afx.prompts import TIERS, build_user_turn
from afx.sampling import BackendFailure, CachedBackend, Deferred, sample_transcript
from afx.transcript import Transcript

CHARS_PER_TOKEN = 4
OUTPUT_TOKENS = 500  # assumed length of one model turn (override: +plan.output_tokens=N)
THINKING_TOKENS = 2000  # thinking per call with model.thinking=recorded, billed as output (+plan.thinking_tokens=N)
JUDGE_PROMPT_TOKENS = 1500  # judge instructions around the transcript


@dataclass
class JobPlan:
    """One job's numbers."""

    job: str
    model: str
    samples: int
    calls_cached: int = 0
    calls_to_make: float = 0.0
    judge_calls: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    cost_usd: float | None = None
    judge_cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)


def _tokens(text: str) -> float:
    return len(text) / CHARS_PER_TOKEN


def expected_turns(spec: JobSpec) -> float:
    """Model turns per sample: a scratchpad turn then an output turn; one fewer after a closed prefix turn."""
    plan = spec.plan
    turns = 2.0
    if spec.prefix_text and (plan.prefix_is_own_turn or plan.prefix_is_closed):
        turns = 1.5  # usually straight to <OUTPUT>, sometimes one more scratchpad turn
    return min(turns, float(plan.max_turns))


def _combos(argv: list[str]) -> list[list[str]]:
    axes = _sweep_values([a for a in argv if a not in ("-m", "--multirun")])
    return [list(c) for c in itertools.product(*axes)] if axes else [[]]


def _cached_backend(model: Mapping[str, Any], cache: ResponseStore | None) -> CachedBackend | None:
    """A cache-only replayer for this model, or None if its identity needs loading the model itself."""
    if cache is None:
        return None
    cls = backend_class(str(model.get("backend")))
    static = getattr(cls, "static_identity", None)
    if static is not None:
        return CachedBackend(_IdentityOnly(cls.name, static(model)), cache, defer=True)
    if getattr(cls, "exclusive", False):
        return None  # an in-process model: its identity is the weights' hash (afx run computes it)
    return CachedBackend(make_backend(dict(model)), cache, defer=True)


@dataclass
class _IdentityOnly:
    """Enough of a backend to compute cache keys; never asked to generate (the replay defers every miss)."""

    name: str
    ident: dict[str, Any]

    def identity(self) -> dict[str, Any]:
        return self.ident

    def generate(self, request: Any, seed: int) -> Any:
        raise AssertionError("plan never calls a model")


def _price(pricing: Mapping[str, Any] | None, inp: float, out: float, read: float, write: float, batch: bool):
    if not pricing:
        return None
    get = lambda k: float(pricing.get(k) or 0.0)  # noqa: E731
    cost = (inp * get("input") + out * get("output") + read * get("cache_read") + write * get("cache_write")) / 1e6
    return cost * float(pricing.get("batch_discount", 0.5)) if batch else cost


def plan_job(cfg: Any) -> JobPlan:
    """Numbers for one composed job config."""
    spec = build_job_spec(cfg, load_data=True, check_env=False)
    raw = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(raw, dict)
    model, classifier = raw["model"], raw.get("classifier") or {}
    samples_per_query = int(raw["data"].get("samples_per_query", 1))
    out_tokens = float((raw.get("plan") or {}).get("output_tokens", OUTPUT_TOKENS))
    thinking = (raw.get("plan") or {}).get("thinking_tokens", THINKING_TOKENS)
    thinking = float(thinking) if model.get("thinking") == "recorded" else 0.0
    name = f"{spec.setting_name}/{spec.prefix_name}/{spec.variation_label}"
    job = JobPlan(name, str(model.get("name")), len(spec.queries) * len(TIERS) * samples_per_query)
    turns = expected_turns(spec)
    cache_cfg = raw.get("cache") or {}
    cache = open_store(cache_cfg["path"], cache_cfg.get("url")) if cache_cfg.get("enabled") else None
    replay = _cached_backend(model, cache)
    if replay is None:
        job.notes.append("cache share not computed for this backend")
    system_tokens = _tokens(spec.system_prompt)
    prefix_tokens = _tokens(spec.prefix_text or "")
    fresh_calls = 0.0
    for query in spec.queries:
        user = build_user_turn(query.text, "train", spec.cue, spec.accept_suffix)
        for tier in TIERS:
            for sample in range(samples_per_query):
                remaining = turns
                if replay is not None:
                    t = Transcript(query.id, query.text, tier, spec.setting_name, spec.prefix_name, "", sample)
                    before = replay.stats.cache_hits
                    try:
                        sample_transcript(
                            replay, spec.plan, t, build_user_turn(query.text, tier, spec.cue, spec.accept_suffix), {}
                        )
                        remaining = 0.0
                    except (Deferred, BackendFailure):
                        done = replay.stats.cache_hits - before
                        remaining = max(1.0, turns - done)
                    job.calls_cached += replay.stats.cache_hits - before
                fresh_calls += remaining
                # turn k re-sends the k-1 earlier turns; the prefix rides along in every call
                per_call_in = _tokens(user) + prefix_tokens + out_tokens * (remaining - 1) / 2
                job.input_tokens += remaining * per_call_in
                job.output_tokens += remaining * (out_tokens + thinking)
    job.calls_to_make = fresh_calls
    cached_input = fresh_calls * system_tokens
    write = system_tokens if fresh_calls else 0.0
    read = max(0.0, cached_input - write)
    job.input_tokens += cached_input
    batch = bool(model.get("batch", False))
    pricing = effective_pricing(model)  # cache writes at the price of the TTL in force (batch: 1h)
    caching = model.get("cache_system_prompt", model.get("backend") == "anthropic")
    if caching and model.get("backend") == "anthropic":
        need, have = cache_min_tokens(model), estimate_tokens(spec.system_prompt)
        if have < need:  # the API silently caches nothing: every call pays the full input price
            caching = False
            job.notes.append(
                f"{model.get('name')}: the system prompt (~{have:,} tokens) is below the {need:,}-token minimum "
                f"cacheable prefix (model.cache_min_tokens): priced without cache reads"
            )
    if caching:
        job.cost_usd = _price(pricing, job.input_tokens - cached_input, job.output_tokens, read, write, batch)
    else:
        job.cost_usd = _price(pricing, job.input_tokens, job.output_tokens, 0, 0, batch)
    job.judge_calls = expected_calls_per_transcript(classifier, spec.setting_name, spec.noncompliance) * job.samples
    if job.judge_calls:
        judge = classifier.get("judge") or {}
        transcript_tokens = turns * out_tokens + _tokens(user if spec.queries else "")
        judge_in = job.judge_calls * (JUDGE_PROMPT_TOKENS + transcript_tokens)
        judge_out = job.judge_calls * float(classifier.get("max_tokens", 600)) / 2
        job.judge_cost_usd = _price(judge.get("pricing"), judge_in, judge_out, 0, 0, False)
    return job


def plan(argv: list[str]) -> list[JobPlan]:
    """One JobPlan per job of the sweep the overrides describe."""
    jobs = []
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            for overrides in _combos(argv):
                try:
                    cfg = compose("config", overrides=overrides, return_hydra_config=True)
                    HydraConfig.instance().set_config(cfg)
                    job_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
                    check_config(job_cfg)  # the same typed checks as a sweep's preflight: one line on a bad value
                    jobs.append(plan_job(job_cfg))
                except AfxError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a composition problem is a config problem
                    raise AfxError(_explain(exc)) from exc
    finally:
        GlobalHydra.instance().clear()
    return jobs


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def render(jobs: list[JobPlan]) -> str:
    rows = [("job", "model", "samples", "cached", "calls", "judge calls", "in tok", "out tok", "cost", "judge cost")]
    for j in jobs:
        rows.append(
            (
                j.job,
                j.model,
                str(j.samples),
                str(j.calls_cached),
                f"{j.calls_to_make:,.0f}",
                f"{j.judge_calls:,.0f}",
                f"{j.input_tokens / 1e6:,.2f}M",
                f"{j.output_tokens / 1e6:,.2f}M",
                _money(j.cost_usd),
                _money(j.judge_cost_usd),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    cached = sum(j.calls_cached for j in jobs)
    todo = sum(j.calls_to_make for j in jobs)
    costs = [j.cost_usd for j in jobs if j.cost_usd is not None]
    judge_costs = [j.judge_cost_usd for j in jobs if j.judge_cost_usd is not None]
    share = cached / (cached + todo) if cached + todo else 1.0
    lines += [
        "",
        f"afx plan: {len(jobs)} jobs, {sum(j.samples for j in jobs):,} samples; model calls: {cached:,} cached, "
        f"~{todo:,.0f} to make ({share:.0%} of the calls already in the cache); "
        f"judge calls ~{sum(j.judge_calls for j in jobs):,.0f}",
        f"afx plan: ~{sum(j.input_tokens for j in jobs) / 1e6:,.2f}M input and "
        f"~{sum(j.output_tokens for j in jobs) / 1e6:,.2f}M output tokens still to pay for; estimated cost "
        f"{_money(sum(costs)) if costs else 'n/a (no model.pricing)'} + judges "
        f"{_money(sum(judge_costs)) if judge_costs else 'n/a'}",
    ]
    notes = sorted({n for j in jobs for n in j.notes})
    lines += [f"afx plan: note: {n}" for n in notes]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Entry point of `afx plan`."""
    from afx.cli_args import OneLineParser

    parser = OneLineParser("afx plan", __doc__)
    parser.add_argument("--json", action="store_true", help="one JSON object per job instead of the table")
    parser.add_argument("-m", "--multirun", action="store_true", help="as in a sweep (expanded either way)")
    parser.add_argument("overrides", nargs="*", help="the sweep's config overrides, e.g. prefix=none,deceptive")
    args = parser.parse_intermixed_args(argv)
    as_json = args.json
    jobs = plan(args.overrides)
    if as_json:
        print(json.dumps([asdict(j) for j in jobs], indent=2))
    else:
        print(render(jobs))
    return 0
