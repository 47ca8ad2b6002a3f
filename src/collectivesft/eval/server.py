"""A small OpenAI-compatible HTTP server: POST /v1/chat/completions and GET /v1/models.

Serves one model through any generating back-end (hf by default), for the openai back-end's
tests and for users who want to point OpenAI-protocol tools at a local checkpoint. Concurrent
requests are batched: one worker thread owns the model and answers every request waiting in
its queue in one `complete` call per (max_tokens, temperature, stop) group. A convenience,
not a production server.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Batcher:
    """Queue of pending requests in front of one back-end; a worker thread answers them in batches."""

    def __init__(self, backend: Any, max_batch: int):
        self.backend = backend
        self.max_batch = max(1, max_batch)
        self.pending: queue.Queue = queue.Queue()
        self.batch_sizes: list[int] = []  # for tests and logs: how many requests each call carried
        threading.Thread(target=self._work, daemon=True).start()

    def submit(self, messages: list[dict], max_tokens: int, temperature: float, stop: list[str] | None) -> Any:
        """Block until the reply (a back-end Generation) to one chat is ready."""
        done: Future = Future()
        self.pending.put(((max_tokens, temperature, tuple(stop or ())), messages, done))
        return done.result()

    def _work(self) -> None:
        while True:
            items = [self.pending.get()]
            # Whatever arrived while the previous batch ran goes into this one: no waiting window.
            while len(items) < self.max_batch:
                try:
                    items.append(self.pending.get_nowait())
                except queue.Empty:
                    break
            groups: dict[tuple, list] = {}
            for item in items:
                groups.setdefault(item[0], []).append(item)
            for (max_tokens, temperature, stop), group in groups.items():
                self.batch_sizes.append(len(group))
                try:
                    replies = self._answer([m for _, m, _ in group], max_tokens, temperature, list(stop) or None)
                except Exception as exc:  # noqa: BLE001 - handed to each waiting request, which answers 500
                    for _, _, done in group:
                        done.set_exception(exc)
                    continue
                for (_, _, done), reply in zip(group, replies):
                    done.set_result(reply)


    def _answer(self, chats: list, max_tokens: int, temperature: float, stop: list[str] | None) -> list:
        """Replies through the back-end's `complete`, or its `generate` (stand-in back-ends in tests)."""
        complete = getattr(self.backend, "complete", None)
        if complete is not None:
            return complete(chats, max_new_tokens=max_tokens, temperature=temperature, stop=stop)
        from collectivesft.eval.backends.registry import Generation

        extra = {"stop": stop} if stop else {}
        return [Generation(t) for t in self.backend.generate(chats, max_new_tokens=max_tokens,
                                                             temperature=temperature, **extra)]


def _parse(request: dict) -> tuple[list[dict], int, float, list[str] | None]:
    """(messages, max_tokens, temperature, stop) of a chat-completion request; ValueError when malformed."""
    messages = request["messages"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m and "content" in m
                                                 for m in messages):
        raise ValueError("messages must be a list of {role, content}")
    max_tokens = int(request.get("max_tokens") or request.get("max_completion_tokens") or 512)
    temperature = float(request.get("temperature") or 0.0)
    stop = request.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise ValueError("stop must be a string or a list of strings")
    return messages, max_tokens, temperature, stop or None


def make_handler(batcher: Batcher, model_name: str) -> type[BaseHTTPRequestHandler]:
    """A request handler class answering through `batcher`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        batcher: Batcher  # set below: the queue every request of this server goes through

        def log_message(self, fmt: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
            self._send(status, {"error": {"message": message, "type": kind}})

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "local"}]})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._error(404, f"no route {self.path}")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                messages, max_tokens, temperature, stop = _parse(request)
            except (ValueError, KeyError, TypeError) as exc:
                self._error(400, f"bad request: {exc}")
                return
            try:
                reply = batcher.submit(messages, max_tokens, temperature, stop)
            except Exception as exc:  # noqa: BLE001 - the client gets the reason, the server keeps serving
                self._error(500, f"generation failed: {type(exc).__name__}: {exc}", "server_error")
                return
            usage = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                     "total_tokens": (reply.prompt_tokens + reply.completion_tokens
                                      if reply.prompt_tokens is not None and reply.completion_tokens is not None
                                      else None)}
            self._send(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
                "model": request.get("model") or model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                             "finish_reason": reply.finish_reason}],
                "usage": usage,
            })

    Handler.batcher = batcher
    return Handler


def make_server(backend: Any, model_name: str, host: str = "127.0.0.1", port: int = 0,
                max_batch: int | None = None) -> ThreadingHTTPServer:
    """A server bound to host:port (port 0 picks a free one: see `server.server_address`); up to
    `max_batch` (default: the back-end's batch_size) concurrent requests share one generate call."""
    size = max_batch or getattr(getattr(backend, "config", None), "batch_size", 1)
    server = ThreadingHTTPServer((host, port), make_handler(Batcher(backend, size), model_name))
    server.daemon_threads = True
    return server


def start_in_thread(backend: Any, model_name: str, host: str = "127.0.0.1", port: int = 0,
                    max_batch: int | None = None) -> tuple[ThreadingHTTPServer, str]:
    """Serve in a daemon thread; return (server, base URL ending in /v1). Stop with server.shutdown()."""
    server = make_server(backend, model_name, host, port, max_batch)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    h, p = server.server_address[:2]
    return server, f"http://{h}:{p}/v1"


def serve(config: Any, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load `config.model` with its back-end and serve until interrupted."""
    from collectivesft.eval.backends.registry import get_backend

    backend = get_backend(config)
    server = make_server(backend, config.model, host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        backend.close()
