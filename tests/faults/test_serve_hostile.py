"""Fault campaign: `eval serve` under hostile requests.

Every row is something a tester did to a fresh `eval serve` that it answered with a 500, a hung
or reset connection, or minutes of runaway work: malformed fields and framing, bodies and
prompts past the limits, budgets past the context, floods, clients that leave, `stream: true`,
and a server listening beyond this machine without a key. 127.0.0.1 only; every client call has
a timeout; events (never sleeps) order the steps that must happen in order.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fault_checks import run_main

from collectivesft.eval.backends.registry import Generation, get_backend
from collectivesft.eval.config import InferenceConfig
from collectivesft.eval.server import start_in_thread

CHAT = [{"role": "user", "content": "高血压"}]
TIMEOUT = 20  # every client call: a server that hangs fails the test instead of hanging it
# While a Gate holds the one worker, a reply can only come from the request handler itself.
AT_ONCE = 5


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def call(url: str, payload=None, *, method: str = "POST", path: str = "/chat/completions", body: bytes | None = None,
         headers: dict | None = None, timeout: float = TIMEOUT) -> tuple[int, dict, object]:
    """One request through http.client: (status, headers, parsed JSON body or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port_of(url), timeout=timeout)
    try:
        if payload is not None:
            body = json.dumps(payload).encode()
        conn.request(method, "/v1" + path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        return read_reply(conn.getresponse())
    finally:
        conn.close()


def read_reply(response: http.client.HTTPResponse) -> tuple[int, dict, object]:
    data = response.read()
    as_json = (response.getheader("Content-Type") or "").startswith("application/json")
    return response.status, dict(response.getheaders()), json.loads(data) if as_json else data.decode()


def wire(head: str, body: bytes = b"") -> bytes:
    """Request bytes: `head` written with plain newlines, then the blank line and `body`."""
    return (head + "\n").replace("\n", "\r\n").encode("latin-1") + body


def raw(url: str, data: bytes, half_close: bool = False, timeout: float = TIMEOUT):
    """Send request bytes as they are (framing no client library would send), then read the reply."""
    with socket.create_connection(("127.0.0.1", port_of(url)), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return read_reply(response)


def assert_openai_error(reply, status: int, param: str | None) -> None:
    got, _, body = reply
    assert got == status, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"], error
    assert error["param"] == param, error
    if status < 500:
        assert error["type"] == "invalid_request_error", error


class Gate:
    """A back-end whose calls wait for `release`; `entered` is set when one starts. It answers
    "ok", or through `inner` (whose context and token counts it also reports)."""

    def __init__(self, inner=None):
        self.inner, self.entered, self.release, self.chats = inner, threading.Event(), threading.Event(), []

    def context_length(self):
        return self.inner.context_length() if self.inner else None

    def prompt_length(self, chat, at_most=None):
        return self.inner.prompt_length(chat, at_most) if self.inner else None

    def complete(self, chats, max_new_tokens, temperature, stop):
        self.chats += chats
        self.entered.set()
        if not self.release.wait(TIMEOUT):
            raise RuntimeError("the test never opened the gate")
        if self.inner:
            return self.inner.complete(chats, max_new_tokens, temperature, stop)
        return [Generation("ok", 1, 1, "stop") for _ in chats]


@pytest.fixture(scope="module")
def tiny(tiny_model):
    """The tiny model (2,048 positions) on the hf back-end."""
    return get_backend(InferenceConfig(model=str(tiny_model), device="cpu", batch_size=8))


@pytest.fixture()
def serve_it():
    """serve_it(backend, **options) -> (server, url); every server is stopped (and its gate opened) after the test."""
    started = []

    def start(backend, **options):
        server, url = start_in_thread(backend, "tiny", **options)
        started.append((server, backend))
        return server, url

    yield start
    for server, backend in started:
        if isinstance(backend, Gate):
            backend.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def served(tiny):
    """The tiny model served with the default limits, for the rows that leave no state behind."""
    server, url = start_in_thread(tiny, "tiny")
    yield url
    server.shutdown()
    server.server_close()


def ask(content: str = "高血压", **fields) -> dict:
    return {"messages": [{"role": "user", "content": content}], **fields}


# -- #11: malformed fields get 400 naming the field, never 500 ------------------------------------

FIELD_ROWS = {
    "integer content": ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    "null content": ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
    "a list as the second message's content": ({"messages": [{"role": "system", "content": "s"},
                                                             {"role": "user", "content": ["x"]}]},
                                               "messages[1].content"),
    "empty messages": ({"messages": []}, "messages"),
    "no messages": ({"max_tokens": 4}, "messages"),
    "messages a string": ({"messages": "高血压"}, "messages"),
    "a message that is a string": ({"messages": ["高血压"]}, "messages[0]"),
    "a message without a role": ({"messages": [{"content": "高血压"}]}, "messages[0].role"),
    "an unknown role": ({"messages": [{"role": "doctor", "content": "高血压"}]}, "messages[0].role"),
    "max_tokens -5": (ask(max_tokens=-5), "max_tokens"),
    "max_tokens 0 (was taken as 512)": (ask(max_tokens=0), "max_tokens"),
    "max_tokens a string": (ask(max_tokens="8"), "max_tokens"),
    "max_tokens fractional": (ask(max_tokens=8.5), "max_tokens"),
    "max_tokens true": (ask(max_tokens=True), "max_tokens"),
    "max_completion_tokens 0": (ask(max_completion_tokens=0), "max_completion_tokens"),
    "temperature a string": (ask(temperature="hot"), "temperature"),
    "temperature negative": (ask(temperature=-1), "temperature"),
    "stop a number": (ask(stop=5), "stop"),
    "stop a list holding a number": (ask(stop=["a", 5]), "stop"),
    "five stop strings (OpenAI allows four)": (ask(stop=list("abcde")), "stop"),
    "stream a string": (ask(stream="yes"), "stream"),
    "n 2 (one choice is all the server gives)": (ask(n=2), "n"),
    "the body a JSON list": ([CHAT], None),
}


@pytest.mark.parametrize("payload, param", FIELD_ROWS.values(), ids=list(FIELD_ROWS))
def test_a_malformed_field_is_refused_with_400_naming_it(served, payload, param):
    assert_openai_error(call(served, payload), 400, param)


# -- #2, #3: prompts and budgets past the model's context are refused at once ----------------------

CONTEXT_ROWS = {
    # The tiny model has 2,048 positions and one token per repeated 病.
    "max_tokens 10**9": (ask(max_tokens=10**9), "max_tokens"),
    "max_completion_tokens 10**9": (ask(max_completion_tokens=10**9), "max_completion_tokens"),
    "a prompt past the context": (ask("病" * 3000, max_tokens=4), "messages"),
    "a prompt past the context, max_tokens not given": (ask("病" * 3000), "messages"),
    "a huge prompt (only its head is counted)": (ask("病" * 1_000_000, max_tokens=4), "messages"),  # 6 MB of JSON
    "prompt plus max_tokens past the context": (ask("病" * 1500, max_tokens=1000), "max_tokens"),
}


@pytest.mark.parametrize("payload, param", CONTEXT_ROWS.values(), ids=list(CONTEXT_ROWS))
def test_past_the_context_is_refused_at_once_while_another_request_is_served(tiny, serve_it, payload, param):
    """The one worker is held busy with a normal request; the refusal cannot wait for it."""
    gate = Gate(tiny)
    _, url = serve_it(gate)
    with ThreadPoolExecutor(1) as pool:
        normal = pool.submit(call, url, ask(max_tokens=4))
        assert gate.entered.wait(TIMEOUT)
        refused = call(url, payload, timeout=AT_ONCE)
        gate.release.set()
        status, _, reply = normal.result()
    assert_openai_error(refused, 400, param)
    assert refused[2]["error"]["code"] == "context_length_exceeded"
    assert status == 200 and reply["usage"]["completion_tokens"] == 4
    assert gate.chats == [CHAT]  # the refused request never reached the model


def test_without_max_tokens_the_default_budget_is_capped_by_the_context(served):
    status, _, reply = call(served, ask("病" * 1950))
    assert status == 200, reply
    usage = reply["usage"]
    assert usage["prompt_tokens"] > 1950 and usage["total_tokens"] <= 2048
    assert reply["choices"][0]["finish_reason"] == "length"  # an untrained model never ends by itself


# -- #11b: framing: lengths, bodies, encodings ---------------------------------------------------

HEAD = "POST /v1/chat/completions HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
GOOD = json.dumps(ask(max_tokens=2)).encode()


def sized(body: bytes) -> str:
    return f"Content-Length: {len(body)}\n"


FRAMING_ROWS = {
    "a body that is not JSON": (sized(b"{not json"), b"{not json", False, 400),
    "a body nested 100,000 deep (RecursionError, 500)": (sized(b"[" * 100_000), b"[" * 100_000, False, 400),
    "a body that is not UTF-8": (sized(b'{"messages": "\xff"}'), b'{"messages": "\xff"}', False, 400),
    "Content-Length -1 (hung)": ("Content-Length: -1\n", GOOD, False, 400),
    "Content-Length not a number": ("Content-Length: many\n", GOOD, False, 400),
    "no Content-Length": ("", GOOD, False, 411),
    "a chunked body": ("Transfer-Encoding: chunked\n", b"5\r\nhello\r\n0\r\n\r\n", False, 411),
    "Content-Length 10**12 (MemoryError, dropped connection)": ("Content-Length: 1000000000000\n", GOOD, False, 413),
    "Expect: 100-continue past the limit (refused before it is sent)": (
        "Content-Length: 1000000000000\nExpect: 100-continue\n", b"", False, 413),
    "a body shorter than its Content-Length": (f"Content-Length: {len(GOOD) + 10}\n", GOOD, True, 400),
}


@pytest.mark.parametrize("length, body, half_close, status", FRAMING_ROWS.values(), ids=list(FRAMING_ROWS))
def test_bad_framing_is_refused_with_4xx(served, length, body, half_close, status):
    assert_openai_error(raw(served, wire(HEAD + length, body), half_close), status, None)
    assert call(served, ask(max_tokens=2))[0] == 200  # and the server still serves


def test_a_24_mb_prompt_is_refused_before_it_is_read(served):
    """24 MB (past the 8 MiB default limit), sent in full by a client that reads the reply after."""
    body = json.dumps(ask("病" * 4_000_000)).encode()
    assert 24_000_000 < len(body) < 25_000_000  # JSON writes 病 as \u75c5
    assert_openai_error(call(served, body=body), 413, None)
    assert call(served, ask(max_tokens=2))[0] == 200


def test_the_body_limit_is_an_option(tiny, serve_it):
    _, url = serve_it(tiny, max_body_bytes=1000)
    assert_openai_error(call(url, ask("病" * 1000, max_tokens=2)), 413, None)
    assert call(url, ask(max_tokens=2))[0] == 200


# -- #7: floods: queued and answered, or refused with 503; never a reset connection ----------------

def flood(url: str, clients: int) -> list:
    """`clients` simultaneous requests; each one's status, or the name of the exception it met."""
    start = threading.Barrier(clients, timeout=TIMEOUT)

    def one(i: int):
        start.wait()
        try:
            return call(url, ask(f"问题{i}", max_tokens=2), timeout=60)[0]
        except OSError as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(clients)))


class Instant:
    def complete(self, chats, max_new_tokens, temperature, stop):
        return [Generation("ok", 1, 1, "stop") for _ in chats]


@pytest.mark.parametrize("backend, clients, max_queue", [("stub", 200, None), ("tiny", 100, 16)],
                         ids=["200 clients, instant back-end", "100 clients, tiny model, a queue of 16"])
def test_a_flood_is_answered_or_refused_with_503_never_reset(tiny, serve_it, backend, clients, max_queue):
    options = {"max_queue": max_queue} if max_queue else {}
    _, url = serve_it(tiny if backend == "tiny" else Instant(), **options)
    statuses = flood(url, clients)
    assert set(statuses) <= {200, 503}, sorted(set(map(str, statuses)))
    assert statuses.count(200) >= 1


def test_a_full_queue_refuses_with_503_and_retry_after(serve_it):
    gate = Gate()
    server, url = serve_it(gate, max_batch=1, max_queue=2)
    waiting = server.batcher.pending
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(call, url, ask("first"))
        assert gate.entered.wait(TIMEOUT)
        queued = [pool.submit(call, url, ask(f"queued {i}")) for i in range(2)]
        with waiting.not_empty:
            assert waiting.not_empty.wait_for(lambda: len(waiting.queue) == 2, TIMEOUT)
        refused = call(url, ask("one too many"), timeout=AT_ONCE)
        gate.release.set()
        answered = [f.result()[0] for f in [first, *queued]]
    assert_openai_error(refused, 503, None)
    assert refused[1].get("Retry-After")
    assert answered == [200, 200, 200]


# -- #3: a client that leaves: its queued work is dropped before the model runs it -----------------

def test_a_client_that_disconnects_has_its_queued_work_dropped(serve_it):
    gate = Gate()
    server, url = serve_it(gate, max_batch=1)
    waiting = server.batcher.pending
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(call, url, ask("first"))
        assert gate.entered.wait(TIMEOUT)
        body = json.dumps(ask("gone")).encode()
        with socket.create_connection(("127.0.0.1", port_of(url)), timeout=TIMEOUT) as sock:
            sock.sendall(wire(HEAD + sized(body), body))
            with waiting.not_empty:
                assert waiting.not_empty.wait_for(lambda: len(waiting.queue) == 1, TIMEOUT)
            pending = waiting.queue[0].done
        left = threading.Event()
        pending.add_done_callback(lambda _: left.set())
        assert left.wait(TIMEOUT) and pending.cancelled()
        gate.release.set()
        assert first.result()[0] == 200
        assert call(url, ask("after"))[0] == 200
    assert [c[0]["content"] for c in gate.chats] == ["first", "after"]
    assert server.batcher.dropped == 1


# -- #11b: stream: true is answered as server-sent events ------------------------------------------

def events(url: str, payload: dict) -> tuple[dict, list]:
    """POST a streaming request; (headers, the parsed `data:` events, [DONE] as the string)."""
    status, headers, text = call(url, payload)
    assert status == 200, text
    assert isinstance(text, str) and text.endswith("data: [DONE]\n\n"), text
    found = []
    for block in text.split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        data = block.removeprefix("data: ")
        found.append(data if data == "[DONE]" else json.loads(data))
    return headers, found


@pytest.mark.parametrize("include_usage", [False, True], ids=["plain", "stream_options.include_usage"])
def test_stream_true_answers_server_sent_events(served, include_usage):
    status, _, whole = call(served, ask(max_tokens=12))
    assert status == 200
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    headers, found = events(served, ask(max_tokens=12, stream=True, **options))
    assert headers["Content-Type"].startswith("text/event-stream")
    assert found[-1] == "[DONE]"
    chunks = found[:-1]
    usage = chunks.pop()["usage"] if include_usage else None
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert all(set(c) >= {"id", "object", "created", "model", "choices"} for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    last = chunks[-1]["choices"][0]
    assert last["delta"] == {} and last["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    if include_usage:
        assert usage == whole["usage"]


def test_the_openai_client_reads_the_stream(served):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=served, api_key="unused", timeout=TIMEOUT, max_retries=0)
    whole = client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=12)
    stream = client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=12, stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason


# -- also: an API key, checked on every request -------------------------------------------------

KEY_ROWS = {
    "no key, models": ("GET", "/models", {}, 401),
    "no key, chat": ("POST", "/chat/completions", {}, 401),
    "no key, unknown route (401 before 404)": ("GET", "/nowhere", {}, 401),
    "a wrong key": ("POST", "/chat/completions", {"Authorization": "Bearer s3cret!"}, 401),
    "the key without Bearer": ("POST", "/chat/completions", {"Authorization": "s3cret"}, 401),
    "the key, models": ("GET", "/models", {"Authorization": "Bearer s3cret"}, 200),
    "the key, chat": ("POST", "/chat/completions", {"Authorization": "Bearer s3cret"}, 200),
}


@pytest.fixture(scope="module")
def keyed():
    server, url = start_in_thread(Instant(), "tiny", api_key="s3cret")
    yield url
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("method, path, headers, status", KEY_ROWS.values(), ids=list(KEY_ROWS))
def test_an_api_key_is_checked_on_every_request(keyed, method, path, headers, status):
    reply = call(keyed, ask(max_tokens=2) if method == "POST" else None, method=method, path=path, headers=headers)
    if status == 401:
        assert_openai_error(reply, 401, None)
        assert reply[2]["error"]["code"] == "invalid_api_key" and reply[1]["WWW-Authenticate"] == "Bearer"
    else:
        assert reply[0] == status, reply


HOST_ROWS = {
    "0.0.0.0 without a key warns": (["--host", "0.0.0.0"], None, True, None),
    "a LAN name without a key warns": (["--host", "gpu-box.lan"], None, True, None),
    "0.0.0.0 with --api-key": (["--host", "0.0.0.0", "--api-key", "k1"], None, False, "k1"),
    "0.0.0.0 with COLLECTIVESFT_API_KEY": (["--host", "0.0.0.0"], "k2", False, "k2"),
    "127.0.0.1 without a key": (["--host", "127.0.0.1"], None, False, None),
    "::1 without a key": (["--host", "::1"], None, False, None),
    "localhost without a key": (["--host", "localhost"], None, False, None),
}


@pytest.mark.parametrize("args, env_key, warns, key", HOST_ROWS.values(), ids=list(HOST_ROWS))
def test_serve_warns_when_listening_beyond_loopback_without_a_key(tiny_model, monkeypatch, capsys, args, env_key,
                                                                  warns, key):
    import collectivesft.eval.server as server

    seen = {}
    monkeypatch.setattr(server, "serve", lambda config, host, port, **options: seen.update(options, host=host))
    if env_key:
        monkeypatch.setenv("COLLECTIVESFT_API_KEY", env_key)
    else:
        monkeypatch.delenv("COLLECTIVESFT_API_KEY", raising=False)
    code, out, err = run_main(["eval", "serve", "--model", tiny_model, *args], monkeypatch, capsys)
    assert code == 0, out + err
    assert ("without an API key" in out + err) == warns, out + err
    assert seen["api_key"] == key and seen["max_queue"] == 256 and seen["max_body_bytes"] == 8 * 2**20
