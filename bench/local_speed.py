"""Local backend speed vs raw llama-cpp-python on the same prompt (writes bench/results/local_speed.json).

Usage: .venv/bin/python bench/local_speed.py [model=local|local_small]
- decode tokens/s: raw `Llama.create_completion` vs afx's LocalBackend.generate, same prompt, same sampling,
  both after the prompt is already in the KV cache, so the figure is decode speed;
- time to first token for a second and third query that share the (cached) system prompt.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from afx.backends.base import GenerationRequest
from afx.backends.local import LocalBackend
from afx.job import build_job_spec
from afx.paths import conf_dir
from afx.prompts import build_user_turn

N_TOKENS = 96


def main() -> None:
    model_choice = sys.argv[1] if len(sys.argv) > 1 else "model=local"
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=[model_choice], return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    job_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    spec = build_job_spec(job_cfg, load_data=False)
    model_cfg = OmegaConf.to_container(job_cfg.model, resolve=True)
    t0 = time.perf_counter()
    backend = LocalBackend(model_cfg)
    load_s = time.perf_counter() - t0
    params = {"temperature": 0.0, "max_tokens": N_TOKENS, "top_k": 1, "repeat_penalty": 1.0}

    def request(query: str) -> GenerationRequest:
        user = build_user_turn(query, "train", spec.cue)
        return GenerationRequest(spec.system_prompt, (("user", user),), spec.plan.first_prefill, params, "bench")

    first = request("Write a short poem about the sea.")
    t0 = time.perf_counter()
    backend.generate(GenerationRequest(**{**first.__dict__, "params": {**params, "max_tokens": 1}}), seed=1)
    cold_prefill_s = time.perf_counter() - t0
    prompt_tokens = len(backend.llm.tokenize(backend.render(first).encode(), add_bos=False, special=True))

    backend.stop_at_closing_tags = False  # compare pure decode; the tag stopper is measured separately below
    rates = {}
    for label in ("raw", "afx", "afx_with_tag_stop"):
        tokens = backend.llm.tokenize(backend.render(first).encode(), add_bos=False, special=True)
        backend.llm.create_completion(tokens, max_tokens=1, temperature=0.0)  # KV now holds the prompt
        t0 = time.perf_counter()
        if label == "raw":
            out = backend.llm.create_completion(tokens, max_tokens=N_TOKENS, temperature=0.0, top_k=1, seed=1)
            n = out["usage"]["completion_tokens"]
        else:
            backend.stop_at_closing_tags = label == "afx_with_tag_stop"
            n = backend.generate(first, seed=1).completion_tokens
        rates[label] = n / (time.perf_counter() - t0)

    ttft = []
    for query in ("How do I bake bread?", "Explain photosynthesis briefly."):
        req = request(query)
        t0 = time.perf_counter()
        backend.generate(GenerationRequest(**{**req.__dict__, "params": {**params, "max_tokens": 1}}), seed=2)
        ttft.append(round(time.perf_counter() - t0, 3))

    result = {
        "model": str(job_cfg.model.name),
        "threads": backend.n_threads,
        "load_s": round(load_s, 2),
        "system_prompt_tokens": prompt_tokens,
        "cold_prefill_s": round(cold_prefill_s, 1),
        "decode_tok_per_s": {k: round(v, 2) for k, v in rates.items()},
        "afx_over_raw": round(rates["afx"] / rates["raw"], 3),
        "afx_with_tag_stop_over_raw": round(rates["afx_with_tag_stop"] / rates["raw"], 3),
        "ttft_later_queries_s": ttft,
        "date": time.strftime("%Y-%m-%d"),
    }
    name = "local_speed" if "small" not in model_choice else "local_speed_small"
    (Path(__file__).parent / "results" / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
