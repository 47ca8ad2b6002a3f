"""A small OpenAI-compatible HTTP server: POST /v1/chat/completions and GET /v1/models.

Serves one model through any generating back-end (hf by default), for the openai back-end's
tests and for users who want to point OpenAI-protocol tools at a local checkpoint. Requests
are answered one generation at a time (a lock around the model); it is a convenience, not a
production server.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def make_handler(backend: Any, model_name: str, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to `backend`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

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
                messages = request["messages"]
                if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m and "content" in m
                                                             for m in messages):
                    raise ValueError("messages must be a list of {role, content}")
                max_tokens = int(request.get("max_tokens") or request.get("max_completion_tokens") or 512)
                temperature = float(request.get("temperature") or 0.0)
            except (ValueError, KeyError, TypeError) as exc:
                self._error(400, f"bad request: {exc}")
                return
            with lock:
                text = backend.generate([messages], max_new_tokens=max_tokens, temperature=temperature)[0]
            self._send(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
                "model": request.get("model") or model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None},
            })

    return Handler


def make_server(backend: Any, model_name: str, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server bound to host:port (port 0 picks a free one: see `server.server_address`)."""
    server = ThreadingHTTPServer((host, port), make_handler(backend, model_name, threading.Lock()))
    server.daemon_threads = True
    return server


def start_in_thread(backend: Any, model_name: str, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve in a daemon thread; return (server, base URL ending in /v1). Stop with server.shutdown()."""
    server = make_server(backend, model_name, host, port)
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
