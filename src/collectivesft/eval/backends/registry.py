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


@dataclass(frozen=True)
class ScoreRequest:
    """Loglik request: log P(continuation | chat) for each continuation (the assistant's first
    words, e.g. "答案是A"). With `end_term`, each score also includes log P(no further answer
    letter follows), so letter sets of different sizes compete fairly."""

    chat: list[dict[str, str]]
    continuations: list[str]
    end_term: bool = False


class Backend:
    """What the evaluator needs from an inference engine."""

    name: ClassVar[str] = ""
    supports_loglik: ClassVar[bool] = False

    def __init__(self, config: Any):
        self.config = config

    def generate(self, chats: list[list[dict[str, str]]], max_new_tokens: int = 512,
                 temperature: float = 0.0) -> list[str]:
        """The assistant's reply to each chat (greedy when temperature is 0)."""
        raise NotImplementedError

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
