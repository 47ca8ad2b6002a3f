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


# A recipe is a few hundred values; anchors and aliases (&a / *a) may repeat parts of it, but
# never expand it past this (a 1 KB "billion laughs" file expands to 10^8 values and more).
MAX_YAML_VALUES = 100_000


def _expanded_size(node: Any, where: str) -> int:
    """How many values `node` (a composed YAML node graph) holds with every alias expanded, counted
    once per distinct node (linear time); ConfigError past MAX_YAML_VALUES or on a node that
    contains itself."""
    import yaml

    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(node, False)]
    active: set[int] = set()
    while stack:
        current, done = stack.pop()
        key = id(current)
        children = ([] if isinstance(current, yaml.ScalarNode) else
                    [c for pair in current.value for c in pair] if isinstance(current, yaml.MappingNode)
                    else list(current.value))
        if done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_YAML_VALUES:
                raise ConfigError(f"{where}: expands to more than {MAX_YAML_VALUES:,} values through YAML "
                                  "aliases (&anchor / *alias); a recipe is a few hundred. Refused without "
                                  "expanding it")
            continue
        if key in sizes:
            continue
        if key in active:
            raise ConfigError(f"{where}: a YAML anchor refers to itself (&a [..., *a]); refused")
        active.add(key)
        stack.append((current, True))
        stack += [(c, False) for c in children if id(c) not in sizes]
    return sizes[id(node)]


def load_yaml(text: str, where: str) -> Any:
    """The value of the YAML document `text` (safe types only), refused when its aliases would
    expand it past MAX_YAML_VALUES or make it contain itself. The one YAML reader for recipes,
    configs and --set values."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, where)
        return loader.construct_document(node)
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to be a recipe") from None
    finally:
        loader.dispose()


def read_yaml_mapping(path: str | Path, what: str = "recipe") -> dict[str, Any]:
    """The top-level mapping of a YAML file (an empty file is an empty mapping); ConfigError otherwise."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} not found (the file does not exist)")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level (a {what} must be a mapping), "
                          f"got {type(data).__name__}")
    return data


def options_as_text(value: Any) -> Any:
    """Converter options are text (`--set max_depth=128` arrives as text); YAML reads `max_depth: 128`
    as a number: numbers become their text, anything else is left for validation to judge."""
    if isinstance(value, dict):
        return {k: str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for k, v in value.items()}
    return value


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


def parse_override(item: str) -> tuple[list[str], Any]:
    """'a.b.0.c=value' -> (['a', 'b', '0', 'c'], value parsed as YAML); ConfigError when malformed."""
    import yaml

    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override must be key=value, got {item!r} (e.g. --set dedup.threshold=0.9)")
    try:
        value = load_yaml(raw, f"override {item!r}") if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: the value is not valid YAML ({exc})") from None
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """`data` with every `key.sub=value` override applied in order (values parsed as YAML; list
    items by index, e.g. sources.0.cap=5; missing mappings are created). Changes `data` in place."""
    for item in overrides or []:
        parts, value = parse_override(item)
        node: Any = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[:depth]) or "(top level)"
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"override {item!r}: {where} has no list item {part!r} "
                                      f"(it has {len(node)} items)")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise ConfigError(f"override {item!r}: {where} is a value, not a mapping or list")
    return data


def deprecated_overrides(old: list[str] | None, spelling: str) -> list[str]:
    """Overrides given in an old spelling, still applied for one release, with a note on stderr."""
    if old:
        import sys

        print(f"note: {spelling} is deprecated and will be removed in the next release; "
              f"use --set key=value", file=sys.stderr)
    return list(old or [])
