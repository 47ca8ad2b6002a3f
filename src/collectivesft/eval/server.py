"""A small OpenAI-compatible HTTP server: POST /v1/chat/completions and GET /v1/models.

Serves one model through any generating back-end (hf by default), for the openai back-end's
tests and for users who want to point OpenAI-protocol tools at a local checkpoint. Concurrent
requests are batched: one worker thread owns the model; when a request arrives it waits a
short window (`batch_window_s`, a few ms) for more, up to the batch size, and answers them in
one `complete` call per (max_tokens, temperature, stop) group. Without the window, clients
that each send their next request when the last is answered arrive a round trip apart, and
the worker would start on the first alone. Identical greedy requests in a group are generated
once and the reply shared.

It stays up under hostile clients: a request is checked in its own connection thread (fields,
body size, prompt and budget against the model's context; server_requests.py) before it may
wait for the worker; the queue is bounded (503 past it); a client that hangs up has its queued
request dropped; an optional API key guards every route. `stream: true` is answered as
server-sent events, in chunks of the finished reply. A convenience, not a production server.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import queue
import socket
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from collectivesft.errors import RequestError
from collectivesft.eval.server_requests import ChatRequest, body_length, parse_chat_request, token_budget

DEFAULT_MAX_QUEUE = 256  # requests waiting for the worker; one more is refused with 503
DEFAULT_MAX_BODY_BYTES = 8 * 2**20  # a 128k-token prompt is about 1 MB of JSON
LISTEN_BACKLOG = 1024  # connections the kernel holds before accept(); http.server's 5 reset floods
SOCKET_TIMEOUT_S = 60  # a client silent this long mid-request is dropped
DEFAULT_BATCH_WINDOW_S = 0.005  # after the first request, how long the worker waits for more to batch
# While fewer requests have come than the last batch carried (clients answered together come
# back together, a scheduler's delay apart), the wait goes on up to this long.
CATCH_UP_S = 0.05
DISCONNECT_CHECK_S = 0.2  # how often a waiting request looks whether its client is still there
LINGER_S = 2.0  # after refusing an unread body, how long its rest is read and discarded
STREAM_PIECE_CHARS = 16  # characters of the finished reply per server-sent event

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
MODEL_PATHS = ("/v1/models", "/models")


@dataclass
class _Pending:
    key: tuple  # (max_tokens, temperature, stop): requests share a generate call only when equal
    messages: list[dict[str, str]]
    done: Future


class Batcher:
    """Bounded queue of pending requests in front of one back-end; a worker thread answers them in batches."""

    def __init__(self, backend: Any, max_batch: int, max_queue: int = DEFAULT_MAX_QUEUE,
                 window_s: float = DEFAULT_BATCH_WINDOW_S):
        self.backend = backend
        self.max_batch = max(1, max_batch)
        self.window_s = max(0.0, window_s)
        # Requests the last batch carried; at first a full batch, so that clients starting together
        # are answered together (a lone first request waits CATCH_UP_S once).
        self._expected = self.max_batch
        self.pending: queue.Queue[_Pending] = queue.Queue(maxsize=max(1, max_queue))
        self.batch_sizes: list[int] = []  # for tests and logs: how many requests each call carried
        self.generated: list[int] = []  # chats each call generated (identical greedy ones count once)
        self.dropped = 0  # queued requests whose client left before the model ran them
        threading.Thread(target=self._work, daemon=True).start()

    def enqueue(self, messages: list[dict], max_tokens: int, temperature: float, stop: list[str] | None) -> Future:
        """Queue one chat; the Future gets its back-end Generation. queue.Full when the queue is full;
        cancel the Future to drop the request (it is skipped unless the model already runs it)."""
        done: Future = Future()
        self.pending.put_nowait(_Pending((max_tokens, temperature, tuple(stop or ())), messages, done))
        return done

    def submit(self, messages: list[dict], max_tokens: int, temperature: float, stop: list[str] | None) -> Any:
        """Block until the reply (a back-end Generation) to one chat is ready."""
        return self.enqueue(messages, max_tokens, temperature, stop).result()

    def _take(self) -> list[_Pending]:
        """The next batch: the first request to arrive, then whatever else arrives within the
        window after it, up to max_batch; while the batch is smaller than the last one, the
        window stretches to CATCH_UP_S (window 0: no wait at all). Requests whose client left are
        dropped here, before the model sees them."""
        batch: list[_Pending] = []
        first = None
        while len(batch) < self.max_batch:
            if first is None:
                item = self.pending.get()
            else:
                # The window; longer (up to CATCH_UP_S) while the last batch's clients are still coming.
                wait = self.window_s if len(batch) >= self._expected else max(self.window_s, CATCH_UP_S)
                left = first + wait - time.monotonic() if self.window_s > 0 else 0
                try:
                    item = self.pending.get(timeout=left) if left > 0 else self.pending.get_nowait()
                except queue.Empty:
                    break
            if item.done.set_running_or_notify_cancel():
                batch.append(item)
                if first is None:
                    first = time.monotonic()
            else:
                self.dropped += 1
        self._expected = len(batch)
        return batch

    def _work(self) -> None:
        while True:
            groups: dict[tuple, list[_Pending]] = {}
            for item in self._take():
                groups.setdefault(item.key, []).append(item)
            for (max_tokens, temperature, stop), group in groups.items():
                self.batch_sizes.append(len(group))
                # Greedy decoding gives one reply per chat: identical chats are generated once.
                slots: dict[str, int] = {}
                chats, where = [], []
                for p in group:
                    same = json.dumps(p.messages, sort_keys=True, ensure_ascii=False) if temperature == 0 else None
                    if same is None or same not in slots:
                        if same is not None:
                            slots[same] = len(chats)
                        where.append(len(chats))
                        chats.append(p.messages)
                    else:
                        where.append(slots[same])
                self.generated.append(len(chats))
                try:
                    replies = self._answer(chats, max_tokens, temperature, list(stop) or None)
                except Exception as exc:  # noqa: BLE001 - handed to each waiting request, which answers 500
                    for p in group:
                        p.done.set_exception(exc)
                    continue
                for p, slot in zip(group, where):
                    p.done.set_result(replies[slot])

    def _answer(self, chats: list, max_tokens: int, temperature: float, stop: list[str] | None) -> list:
        """Replies through the back-end's `complete`, or its `generate` (stand-in back-ends in tests)."""
        complete = getattr(self.backend, "complete", None)
        if complete is not None:
            return complete(chats, max_new_tokens=max_tokens, temperature=temperature, stop=stop)
        from collectivesft.eval.backends.registry import Generation

        extra = {"stop": stop} if stop else {}
        return [Generation(t) for t in self.backend.generate(chats, max_new_tokens=max_tokens,
                                                             temperature=temperature, **extra)]


class ChatServer(ThreadingHTTPServer):
    """One thread per connection in front of the Batcher, with the limits its handlers enforce."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], batcher: Batcher, model_name: str,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, api_key: str | None = None):
        self.batcher, self.model_name, self.max_body_bytes, self.api_key = batcher, model_name, max_body_bytes, api_key
        self.connection_errors = 0  # clients that hung up mid-reply or went silent mid-request
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, ChatHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client's own broken connection is counted, not printed as a server traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            self.connection_errors += 1
        else:
            super().handle_error(request, client_address)


class ChatHandler(BaseHTTPRequestHandler):
    """One connection: every refusal is an OpenAI-style error body, never a dropped connection."""

    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    # Headers and body go out in separate writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers (~40 ms a reply on Linux), longer than generating a batch
    # of short replies on a small model, and clients answered together would come back apart.
    disable_nagle_algorithm = True
    server: ChatServer
    body_unread = False  # a refusal sent before the body was read: close (after lingering) rather than reuse

    def log_message(self, fmt: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._respond(self._models)

    def do_POST(self) -> None:
        self.body_unread = True
        self._respond(self._chat)

    def handle_expect_100(self) -> bool:
        # curl asks before sending a body over 1 MB: a body it may not send is refused before it is sent.
        try:
            self._authorize()
            body_length(self.headers, self.server.max_body_bytes)
        except RequestError as exc:
            self.body_unread = True
            self._send_error(exc)
            return False
        return super().handle_expect_100()

    def finish(self) -> None:
        super().finish()
        if self.body_unread:
            self._linger()

    # -- routes ---------------------------------------------------------------------

    def _respond(self, route: Any) -> None:
        try:
            self._authorize()
            route()
        except RequestError as exc:
            self._send_error(exc)
        except OSError:
            raise  # the client's connection broke: nothing can be sent (ChatServer.handle_error counts it)
        except Exception as exc:  # noqa: BLE001 - a server bug: printed and answered 500, the server keeps serving
            traceback.print_exc()
            self._send_error(RequestError(f"internal error: {type(exc).__name__}: {exc}", 500, kind="server_error"))

    def _models(self) -> None:
        if self.path.rstrip("/") not in MODEL_PATHS:
            raise RequestError(f"no route {self.path}", 404)
        self._send_json(200, {"object": "list", "data": [{"id": self.server.model_name, "object": "model",
                                                          "owned_by": "local"}]})

    def _chat(self) -> None:
        if self.path.rstrip("/") not in CHAT_PATHS:
            raise RequestError(f"no route {self.path}", 404)
        length = body_length(self.headers, self.server.max_body_bytes)
        body = self.rfile.read(length)
        self.body_unread = False
        if len(body) < length:
            raise RequestError(f"the body ended after {len(body)} of its {length} bytes (Content-Length)")
        request = parse_chat_request(body)
        backend = self.server.batcher.backend
        context = getattr(backend, "context_length", lambda: None)()
        max_tokens = token_budget(request, context, getattr(backend, "prompt_length", lambda chat, at_most: None))
        try:
            done = self.server.batcher.enqueue(request.messages, max_tokens, request.temperature, request.stop)
        except queue.Full:
            raise RequestError(f"the server is busy: {self.server.batcher.pending.maxsize} requests are waiting "
                               "(eval serve --max-queue); retry shortly", 503, code="queue_full",
                               kind="server_error") from None
        try:
            reply = self._wait(done)
        except Exception as exc:  # noqa: BLE001 - the back-end failed: the client gets why, the server keeps serving
            raise RequestError(f"generation failed: {type(exc).__name__}: {exc}", 500, kind="server_error") from None
        if reply is None:
            return
        head = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()),
                "model": request.model or self.server.model_name}
        if request.stream:
            self._stream(request, reply, {**head, "object": "chat.completion.chunk"})
        else:
            self._send_json(200, {**head, "object": "chat.completion", "choices": [{
                "index": 0, "message": {"role": "assistant", "content": reply.text},
                "finish_reason": reply.finish_reason}], "usage": _usage(reply)})

    # -- waiting, streaming, sending ------------------------------------------------

    def _wait(self, done: Future) -> Any:
        """The reply; None when the client hung up while its request was still queued (then dropped)."""
        while True:
            try:
                return done.result(timeout=DISCONNECT_CHECK_S)
            except FutureTimeout:
                if self._client_gone() and done.cancel():
                    self.close_connection = True
                    return None

    def _client_gone(self) -> bool:
        """Whether the client closed its side: a readable socket with nothing to read."""
        conn, timeout = self.connection, self.connection.gettimeout()
        conn.settimeout(0)
        try:
            return conn.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False  # nothing sent, still connected
        except OSError:
            return True  # reset
        finally:
            conn.settimeout(timeout)

    def _stream(self, request: ChatRequest, reply: Any, head: dict) -> None:
        """The finished reply as OpenAI's server-sent events: a role chunk, content chunks, a chunk with
        the finish reason, optionally a usage chunk, then [DONE]; chunked transfer keeps the connection."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(data: str) -> None:
            payload = f"data: {data}\n\n".encode("utf-8")
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))

        def chunk(delta: dict, finish_reason: str | None = None) -> None:
            event(json.dumps({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]},
                             ensure_ascii=False))

        chunk({"role": "assistant", "content": ""})
        for start in range(0, len(reply.text), STREAM_PIECE_CHARS):
            chunk({"content": reply.text[start:start + STREAM_PIECE_CHARS]})
        chunk({}, reply.finish_reason)
        if request.include_usage:
            event(json.dumps({**head, "choices": [], "usage": _usage(reply)}))
        event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")

    def _authorize(self) -> None:
        key = self.server.api_key
        if not key:
            return
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if not (scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())):
            raise RequestError("a valid API key is required: send the header Authorization: Bearer KEY", 401,
                               code="invalid_api_key")

    def _send_error(self, exc: RequestError) -> None:
        headers = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "1"}}.get(exc.status, {})
        if self.body_unread:
            # The rest of this request is still on the wire: the connection cannot carry another.
            self.close_connection = True
            headers["Connection"] = "close"
        self._send_json(exc.status, exc.body(), headers)

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _linger(self) -> None:
        """Read and discard what the client still sends, for at most LINGER_S, before the socket closes:
        closing on unread bytes resets the connection, and the client would lose the refusal it was sent."""
        deadline = time.monotonic() + LINGER_S
        try:
            self.connection.shutdown(socket.SHUT_WR)
            while (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                if not self.connection.recv(65536):
                    break
        except OSError:
            pass  # the client is gone or stayed past LINGER_S: either way the socket closes now


def _usage(reply: Any) -> dict:
    prompt, completion = reply.prompt_tokens, reply.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion if prompt is not None and completion is not None else None}


def unguarded_warning(host: str, api_key: str | None) -> str | None:
    """A warning when the server would listen beyond this machine with no API key."""
    if api_key or host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name other than localhost: it may well resolve beyond this machine
    return (f"listening on {host} without an API key: anyone who can reach this port can use the model; "
            "pass --api-key KEY (or set COLLECTIVESFT_API_KEY) and send Authorization: Bearer KEY")


def make_server(backend: Any, model_name: str, host: str = "127.0.0.1", port: int = 0, max_batch: int | None = None,
                max_queue: int = DEFAULT_MAX_QUEUE, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                api_key: str | None = None, batch_window_s: float = DEFAULT_BATCH_WINDOW_S) -> ChatServer:
    """A server bound to host:port (port 0 picks a free one: see `server.server_address`); up to
    `max_batch` (default: the back-end's batch_size) concurrent requests arriving within
    `batch_window_s` of the first share one generate call, `max_queue` wait, bodies up to
    `max_body_bytes` are read; with `api_key`, every request must bear it."""
    size = max_batch or getattr(getattr(backend, "config", None), "batch_size", 1)
    return ChatServer((host, port), Batcher(backend, size, max_queue, batch_window_s), model_name, max_body_bytes,
                      api_key)


def start_in_thread(backend: Any, model_name: str, host: str = "127.0.0.1", port: int = 0,
                    max_batch: int | None = None, **limits: Any) -> tuple[ChatServer, str]:
    """Serve in a daemon thread; return (server, base URL ending in /v1). Stop with server.shutdown().
    `limits`: make_server's max_queue, max_body_bytes, api_key, batch_window_s."""
    server = make_server(backend, model_name, host, port, max_batch, **limits)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    h, p = server.server_address[:2]
    return server, f"http://{f'[{h}]' if ':' in h else h}:{p}/v1"


def serve(config: Any, host: str = "127.0.0.1", port: int = 8000, **limits: Any) -> None:
    """Load `config.model` with its back-end and serve until interrupted (`limits`: as make_server)."""
    from collectivesft.eval.backends.registry import get_backend

    backend = get_backend(config)
    server = make_server(backend, config.model, host, port, **limits)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        backend.close()
