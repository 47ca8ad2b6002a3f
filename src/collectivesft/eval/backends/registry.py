"""The back-end registry: `@register_backend("name")` on a Backend subclass in its own module.

Every module of this package is imported on first lookup (each keeps its heavy imports
inside functions), so adding a back-end is one new file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from collectivesft.errors import ConfigError
from collectivesft.registry import Registry

BACKENDS: Registry["Backend"] = Registry("back-end", "collectivesft.eval.backends")
# A prompt longer than this many characters per allowed token is first counted by its head alone.
HEAD_CHARS_PER_TOKEN = 8


@dataclass(frozen=True)
class ScoreRequest:
    """Loglik request: log P(continuation | chat) for each continuation (the assistant's first
    words, e.g. "答案是A"). With `end_term`, each score also includes log P(no further answer
    letter follows), so letter sets of different sizes compete fairly."""

    chat: list[dict[str, str]]
    continuations: list[str]
    end_term: bool = False


@dataclass(frozen=True)
class Generation:
    """One reply, with token counts where the back-end knows them (the server's `usage`)."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"  # stop (end token or stop string) | length (max_new_tokens reached)


class Backend:
    """What the evaluator needs from an inference engine."""

    name: ClassVar[str] = ""
    supports_loglik: ClassVar[bool] = False

    def __init__(self, config: Any):
        self.config = config

    def generate(self, chats: list[list[dict[str, str]]], max_new_tokens: int = 512,
                 temperature: float = 0.0, stop: list[str] | None = None) -> list[str]:
        """The assistant's reply to each chat (greedy when temperature is 0), cut before any stop string."""
        raise NotImplementedError

    def complete(self, chats: list[list[dict[str, str]]], max_new_tokens: int = 512,
                 temperature: float = 0.0, stop: list[str] | None = None) -> list[Generation]:
        """Like generate, with token counts and finish reasons where the back-end knows them."""
        return [Generation(t) for t in self.generate(chats, max_new_tokens, temperature, stop)]

    def context_length(self) -> int | None:
        """The most tokens (prompt and reply together) the model attends to, when known."""
        return None

    def prompt_length(self, chat: list[dict[str, str]], at_most: int | None = None) -> int | None:
        """Tokens of the chat's prompt, when the back-end has a tokenizer. Past `at_most` any count
        above it may come back: a huge prompt is counted only as far as its head."""
        tokenizer = getattr(self, "tokenizer", None)
        if tokenizer is None:
            return None
        from collectivesft.eval.chat import render_chat

        text = render_chat(tokenizer, chat)
        special = not getattr(tokenizer, "chat_template", None)  # as the hf back-end encodes prompts

        def count(part: str) -> int:
            return len(tokenizer(part, add_special_tokens=special).input_ids)

        head = HEAD_CHARS_PER_TOKEN * at_most if at_most is not None else len(text)
        if len(text) > head:
            # Megabytes take seconds to tokenise. A cut mid-word adds at most a token to the head
            # and the rest of the text adds at least one, so the head never counts more than the whole.
            counted = count(text[:head])
            if counted > at_most:
                return counted
        return count(text)

    def describe(self, max_new_tokens: int, temperature: float) -> dict[str, Any]:
        """What the eval folder records about how replies were produced (generation.json)."""
        return {"backend": self.name, "model": getattr(self.config, "model", None),
                "max_new_tokens": max_new_tokens, "temperature": temperature}

    def score(self, requests: list[ScoreRequest]) -> list[list[float]]:
        """Log-likelihood of each request's continuations."""
        raise ConfigError(f"back-end {self.name!r} cannot score option likelihoods; use --method generate "
                          "or --backend hf")

    def close(self) -> None:
        """Release models, pools, connections."""


def register_backend(name: str) -> Callable[[type[Backend]], type[Backend]]:
    """Class decorator: make a back-end available under `name`."""

    def wrap(cls: type[Backend]) -> type[Backend]:
        cls.name = name
        return BACKENDS.add(name, cls)

    return wrap


def backend_names() -> list[str]:
    return BACKENDS.names()


def get_backend(config: Any) -> Backend:
    """The back-end `config.backend` built from an InferenceConfig; unknown names list the known ones."""
    return BACKENDS.get(config.backend)(config)
