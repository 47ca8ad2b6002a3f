"""`eval serve` batches concurrent requests: those arriving within the batch window share one
generate call (identical greedy ones one row), and each answer is the one the model gives the
request alone."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor

from collectivesft.eval.backends.registry import get_backend
from collectivesft.eval.config import InferenceConfig
from collectivesft.eval.server import start_in_thread

TIMEOUT = 120


def _ask(url: str, content: str) -> str:
    host, port = url.removeprefix("http://").split("/")[0].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        body = {"messages": [{"role": "user", "content": content}], "max_tokens": 8, "temperature": 0}
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        reply = conn.getresponse()
        data = json.loads(reply.read())
        assert reply.status == 200, data
        return data["choices"][0]["message"]["content"]
    finally:
        conn.close()


def test_concurrent_requests_share_one_generate_call(tiny_model):
    backend = get_backend(InferenceConfig(model=str(tiny_model), device="cpu", batch_size=4, threads=1))
    prompts = ["高血压", "糖尿病", "高血压", "肺炎"]  # two identical greedy requests
    # A window far longer than the test: the batch closes when its 4th request arrives, not on a clock.
    server, url = start_in_thread(backend, "tiny", max_batch=4, batch_window_s=TIMEOUT)
    try:
        with ThreadPoolExecutor(len(prompts)) as pool:
            answers = list(pool.map(lambda p: _ask(url, p), prompts))
        assert server.batcher.batch_sizes == [4]  # one generate call for the four requests
        assert server.batcher.generated == [3]  # the repeated prompt generated once
    finally:
        server.shutdown()
        server.server_close()
    alone = [backend.complete([[{"role": "user", "content": p}]], max_new_tokens=8, temperature=0.0, stop=None)[0].text
             for p in prompts]
    assert answers == alone
    assert answers[0] == answers[2]
