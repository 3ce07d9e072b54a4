"""openai_compatible: request shapes per continuation mode, retries and errors (a tiny loopback server here),
and for real against llama-cpp-python's own OpenAI-compatible server with the small test model."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from omegaconf import OmegaConf

from afx.backends.base import GenerationRequest
from afx.backends.openai_compat import OpenAICompatibleBackend
from afx.errors import AfxError
from afx.job import build_job_spec
from afx.sampling import CachedBackend, RetryPolicy

TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def endpoint():
    """A minimal OpenAI-style server: records bodies, answers in turn from `script` (status or text)."""
    state = {"bodies": [], "script": []}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            state["bodies"].append((self.path, body, self.headers.get("authorization")))
            step = state["script"].pop(0) if state["script"] else "continued"
            if isinstance(step, int):
                data = json.dumps({"error": {"message": f"injected {step}"}}).encode()
                self.send_response(step)
                self.send_header("retry-after", "0")
            else:
                choice = {"text": step} if self.path.endswith("/completions") and "chat" not in self.path else {}
                choice = choice or {"message": {"role": "assistant", "content": step}}
                usage = {"prompt_tokens": 50, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 40}}
                data = json.dumps({"choices": [{**choice, "finish_reason": "stop"}], "usage": usage}).encode()
                self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            self.close_connection = state.get("drop_idle", False)  # as a server whose keep-alive timed out

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()


def _model(url, **over):
    base = {"backend": "openai_compatible", "name": "t", "model": "served", "base_url": url}
    return {**base, "continuation": "continue_final_message", **over}


REQ = GenerationRequest("SYS", (("user", "U"),), "<SCRATCHPAD_REASONING>", {"max_tokens": 9}, "k")


def test_continue_final_message_request(endpoint):
    backend = OpenAICompatibleBackend(_model(endpoint["url"], continuation="continue_final_message"))
    gen = backend.generate(REQ, seed=7)
    path, body, _ = endpoint["bodies"][0]
    assert path == "/v1/chat/completions" and body["continue_final_message"] is True
    assert body["add_generation_prompt"] is False and body["seed"] == 7 and body["model"] == "served"
    assert body["messages"][-1] == {"role": "assistant", "content": "<SCRATCHPAD_REASONING>"}
    assert (gen.text, gen.prompt_tokens, gen.cache_read_tokens, gen.completion_tokens) == ("continued", 10, 40, 5)


def test_completion_mode_renders_the_template_and_appends_the_prefill(endpoint, monkeypatch):
    monkeypatch.setenv("SERVER_KEY", "secret-value")
    backend = OpenAICompatibleBackend(
        _model(endpoint["url"], continuation="completion", chat_template=TEMPLATE, api_key_env="SERVER_KEY")
    )
    backend.generate(REQ, seed=1)
    path, body, auth = endpoint["bodies"][0]
    assert path == "/v1/completions" and auth == "Bearer secret-value"
    assert body["prompt"] == "<|system|>SYS\n<|user|>U\n<|assistant|><SCRATCHPAD_REASONING>"


def test_retries_then_clear_errors(endpoint):
    endpoint["script"] = [429, 503, "fine"]
    cached = CachedBackend(OpenAICompatibleBackend(_model(endpoint["url"])), None, policy=RetryPolicy(4, 0.001))
    assert cached.generate(REQ)[0].text == "fine"
    assert cached.stats.retry_reasons == {"429": 1, "503": 1}
    endpoint["script"] = [404]
    with pytest.raises(AfxError, match="HTTP 404 on /chat/completions"):
        cached.generate(GenerationRequest("S", (("user", "other"),), "", {}, "k2"))


def test_dead_server_is_a_counted_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cached = CachedBackend(
        OpenAICompatibleBackend(_model(f"http://127.0.0.1:{port}/v1")), None, policy=RetryPolicy(2, 0.001)
    )
    with pytest.raises(Exception, match="connection"):
        cached.generate(REQ)
    assert cached.stats.retry_reasons == {"connection": 2}


def test_a_keep_alive_connection_the_server_closed_is_replaced_not_failed(endpoint):
    """Servers close idle keep-alive connections (uvicorn after 5 s): the next request goes on a new connection."""
    endpoint["drop_idle"] = True
    cached = CachedBackend(OpenAICompatibleBackend(_model(endpoint["url"])), None, policy=RetryPolicy(1, 0.001))
    for n in range(3):
        time.sleep(0.1)  # the server has closed its end by now
        assert cached.generate(GenerationRequest("S", (("user", f"u{n}"),), "", {}, f"k{n}"))[0].text == "continued"
    assert len(endpoint["bodies"]) == 3 and cached.stats.retries == 0 and cached.stats.failures == 0


def test_no_continuation_means_no_prefill(compose_cfg):
    base = ("model=openai_compatible", "model.base_url=http://127.0.0.1:1/v1", "model.model=m")
    with pytest.raises(AfxError, match="cannot continue a partial assistant turn"):
        build_job_spec(compose_cfg(*base, "model.continuation=none"), load_data=False)
    spec = build_job_spec(
        compose_cfg(
            *base,
            "model.continuation=none",
            "model.prefix_mode=turn",
            "model.prefill.first=''",
            "model.prefill.next=''",
            "prefix=deceptive",
        ),
        load_data=False,
    )
    assert spec.plan.prefix_is_own_turn and spec.plan.first_prefill == ""
    with pytest.raises(AfxError, match="set model.chat_template"):
        build_job_spec(compose_cfg(*base, "model.continuation=completion"), load_data=False)


# --- for real: llama-cpp-python's OpenAI-compatible server on the small test model -------------------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server] extras")
    from afx.backends.gguf import resolve_model_path
    from afx.paths import conf_dir

    small = OmegaConf.to_container(OmegaConf.load(conf_dir() / "model" / "local_small.yaml"))
    small.pop("defaults", None)
    path = resolve_model_path(small)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--n_ctx", "8192", "--model_alias", "small"]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            time.sleep(0.5)
    yield {"url": url, "gguf": path}
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.local_model
def test_llama_cpp_server_continues_the_prefill(llama_server):
    from afx.backends.local import LocalBackend

    model = _model(
        llama_server["url"], model="small", continuation="completion", chat_template=f"gguf:{llama_server['gguf']}"
    )
    backend = OpenAICompatibleBackend(model)
    request = GenerationRequest(
        "You are a helpful assistant.",
        (("user", "Name three colours."),),
        "<SCRATCHPAD_REASONING>\n",
        {"max_tokens": 24, "temperature": 0.0},
        "k",
    )
    local = LocalBackend({"path": str(llama_server["gguf"]), "n_ctx": 2048})
    assert backend.render(request) == local.render(request), "the same prompt as the in-process backend"
    gen = backend.generate(request, seed=0)
    assert gen.text.strip() and not gen.text.startswith("<SCRATCHPAD_REASONING>")
    assert gen.prompt_tokens + gen.cache_read_tokens > 10 and 0 < gen.completion_tokens <= 24


@pytest.mark.local_model
def test_sweep_through_the_llama_cpp_server(llama_server, afx_cli, tmp_path):
    done = afx_cli(
        "model=openai_compatible",
        f"model.base_url={llama_server['url']}",
        "model.model=small",
        "model.continuation=completion",
        f"model.chat_template=gguf:{llama_server['gguf']}",
        "model.prefill.first='<SCRATCHPAD_REASONING>'",
        "model.sampling.max_tokens=24",
        "model.max_turns=2",
        "model.max_concurrency=2",
        "data.limit=1",
        "progress=false",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = next(tmp_path.glob("outputs/runs/*"))
    rows = [json.loads(line) for line in (run / "transcripts.jsonl").read_text().splitlines()]
    assert [r["tier"] for r in rows] == ["train", "unmonitored"]
    assert all(r["turns"][0].startswith("<SCRATCHPAD_REASONING>") and r["status"] != "error" for r in rows)
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert metrics["calls/model"] >= 2 and metrics["tokens/output"] > 0
