"""Reading YAML configs and turning validation failures into messages that name the key and file.

Every stage's typed config (run recipe, mix recipe, train config, eval config) goes through
these two functions, so a typo reads the same wherever it is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from collectivesft.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_yaml_mapping(path: str | Path, what: str = "recipe") -> dict[str, Any]:
    """The top-level mapping of a YAML file (an empty file is an empty mapping); ConfigError otherwise."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} not found (the file does not exist)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level (a {what} must be a mapping), "
                          f"got {type(data).__name__}")
    return data


def validation_problems(exc: ValidationError) -> str:
    """'key.path: problem; ...' for every error pydantic found."""
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{key}: {msg}")
    return "; ".join(parts)


def validate_model(cls: type[M], data: Any, where: str, what: str) -> M:
    """`cls` validated from `data`; ConfigError "WHERE: invalid WHAT: key: problem; ..." otherwise."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: invalid {what}: {validation_problems(exc)}") from None
