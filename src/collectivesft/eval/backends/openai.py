"""The `openai` back-end: any OpenAI-compatible /v1/chat/completions endpoint.

Base URL from the config or $OPENAI_BASE_URL; the key from the environment variable the
config names (never from a file or the command line). Requests run `concurrency` at a time;
429, 5xx and connection errors are retried with exponential back-off and jitter.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from collectivesft.errors import ConfigError, InputLayoutError
from collectivesft.eval.backends.registry import Backend, register_backend

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class EndpointError(InputLayoutError):
    """The endpoint kept failing (or refused the request) after all retries."""


@register_backend("openai")
class OpenAIBackend(Backend):
    supports_loglik = False

    def __init__(self, config: Any):
        super().__init__(config)
        import httpx

        base = config.base_url or os.environ.get("OPENAI_BASE_URL")
        if not base:
            raise ConfigError("openai back-end needs --base-url (or $OPENAI_BASE_URL), e.g. http://localhost:8000/v1")
        self.url = base.rstrip("/") + "/chat/completions"
        key = os.environ.get(config.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(headers=headers, timeout=config.timeout_s)
        self.backoff_s = 1.0

    def _complete(self, chat: list[dict[str, str]], max_new_tokens: int, temperature: float,
                  stop: list[str] | None = None) -> str:
        import httpx

        body = {"model": self.config.model, "messages": chat, "max_tokens": max_new_tokens, "temperature": temperature}
        if stop:
            body["stop"] = stop
        last = ""
        for attempt in range(self.config.max_retries + 1):
            try:
                resp = self.client.post(self.url, json=body)
            except httpx.HTTPError as exc:  # connection refused, reset, timeout: worth another try
                last = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code == 200:
                    try:
                        return resp.json()["choices"][0]["message"]["content"] or ""
                    except (ValueError, KeyError, IndexError, TypeError):
                        raise EndpointError(f"{self.url}: reply is not a chat completion: {resp.text[:200]!r}") from None
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                if resp.status_code not in _RETRY_STATUS:
                    raise EndpointError(f"{self.url}: {last}")
            if attempt < self.config.max_retries:
                time.sleep(self.backoff_s * 2 ** attempt * (0.5 + random.random()))
        raise EndpointError(f"{self.url}: gave up after {self.config.max_retries + 1} attempts ({last})")

    def generate(self, chats: list[list[dict[str, str]]], max_new_tokens: int = 512,
                 temperature: float = 0.0, stop: list[str] | None = None) -> list[str]:
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            return list(pool.map(lambda c: self._complete(c, max_new_tokens, temperature, stop), chats))

    def close(self) -> None:
        self.client.close()
