"""Back-ends: openai against a real local OpenAI-compatible server, vllm's missing-package message."""

import json

import httpx
import pytest

from collectivesft.errors import ConfigError
from collectivesft.eval.backends.registry import backend_names, get_backend
from collectivesft.eval.cmb.runner import evaluate_cmb
from collectivesft.eval.config import CMBEvalConfig
from collectivesft.benchmarks.cmb.load import load_questions
from collectivesft.eval.cmb.prompts import build_chat
from collectivesft.eval.config import InferenceConfig
from collectivesft.eval.server import start_in_thread


@pytest.fixture(scope="module")
def served(tiny_model):
    """The tiny model behind a local /v1/chat/completions server on a free port."""
    backend = get_backend(InferenceConfig(model=str(tiny_model), device="cpu", batch_size=1))
    server, url = start_in_thread(backend, "tiny")
    yield backend, url
    server.shutdown()
    server.server_close()


def test_registry_lists_the_backends():
    assert {"hf", "openai", "vllm"} <= set(backend_names())


def test_openai_backend_against_local_server(served, cmb_data, tmp_path):
    hf, url = served
    assert httpx.get(url + "/models").json()["data"][0]["id"] == "tiny"
    config = CMBEvalConfig(model="tiny", backend="openai", base_url=url, data=str(cmb_data), method="generate",
                           limit=5, max_new_tokens=10, concurrency=3, batch_size=5)
    scores = evaluate_cmb(config, tmp_path)
    assert scores["n"] == 5 and scores["key_invalid"] == 0
    preds = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    questions = load_questions(cmb_data, "test")[:5]
    expected = [hf.generate([build_chat(q)], max_new_tokens=10)[0] for q in questions]
    assert [p["output"] for p in preds] == expected  # the same text the model gives directly


def test_openai_backend_reports_http_errors_and_refuses_loglik(served, cmb_data, tmp_path):
    _, url = served
    from collectivesft.eval.backends.openai import EndpointError

    backend = get_backend(InferenceConfig(model="tiny", backend="openai", base_url=url + "/nowhere", max_retries=0))
    with pytest.raises(EndpointError, match="HTTP 404"):
        backend.generate([[{"role": "user", "content": "你好"}]], max_new_tokens=2)
    with pytest.raises(ConfigError, match="cannot score option likelihoods"):
        evaluate_cmb(CMBEvalConfig(model="tiny", backend="openai", base_url=url, data=str(cmb_data),
                                   method="loglik", limit=1), tmp_path)


def test_openai_backend_retries_then_gives_up(tmp_path):
    from collectivesft.eval.backends.openai import EndpointError

    backend = get_backend(InferenceConfig(model="x", backend="openai", base_url="http://127.0.0.1:9/v1", max_retries=2))
    backend.backoff_s = 0.0
    with pytest.raises(EndpointError, match="gave up after 3 attempts"):
        backend.generate([[{"role": "user", "content": "hi"}]], max_new_tokens=1)


def test_vllm_missing_gives_a_clear_message(tmp_path):
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed here")
    except ImportError:
        pass
    with pytest.raises(ConfigError, match="pip install"):
        get_backend(InferenceConfig(model="whatever", backend="vllm"))


def test_unknown_backend_lists_known_ones():
    with pytest.raises(ConfigError, match="known: hf, openai, vllm"):
        get_backend(InferenceConfig(model="m", backend="tgi"))


def test_openai_backend_retries_busy_answers_then_succeeds():
    """A server that answers 503 twice, then a completion: the client backs off and gets the text."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls = []

    class Flaky(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            calls.append(self.headers.get("Authorization"))
            if len(calls) <= 2:
                body, status = b'{"error": "busy"}', 503
            else:
                body, status = json.dumps({"choices": [{"message": {"content": "答案是B"}}]}).encode(), 200
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        import os

        os.environ["CSFT_TEST_KEY"] = "secret"
        backend = get_backend(InferenceConfig(model="m", backend="openai", api_key_env="CSFT_TEST_KEY",
                                              base_url=f"http://127.0.0.1:{server.server_address[1]}/v1"))
        backend.backoff_s = 0.01
        assert backend.generate([[{"role": "user", "content": "题"}]], max_new_tokens=4) == ["答案是B"]
        assert calls == ["Bearer secret"] * 3
    finally:
        os.environ.pop("CSFT_TEST_KEY", None)
        server.shutdown()
        server.server_close()
