"""The back-end registry: `@register_backend("name")` on a Backend subclass in its own module.

Every module of this package is imported on first lookup (each keeps its heavy imports
inside functions), so adding a back-end is one new file.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from collectivesft.errors import ConfigError

_REGISTRY: dict[str, type["Backend"]] = {}
_NOT_BACKENDS = {"registry"}
_loaded = False


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
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"back-end {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    import collectivesft.eval.backends as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name not in _NOT_BACKENDS and not mod.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{mod.name}")
    _loaded = True


def backend_names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def get_backend(config: Any) -> Backend:
    """The back-end `config.backend` built from an InferenceConfig; unknown names list the known ones."""
    _load_all()
    if config.backend not in _REGISTRY:
        raise ConfigError(f"unknown back-end {config.backend!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[config.backend](config)
