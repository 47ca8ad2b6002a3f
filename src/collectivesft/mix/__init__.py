"""The mix stage: build a balanced, deduplicated, decontaminated SFT mixture from unified records.

Python API (what `collectivesft run` calls):
    recipe = load_recipe("recipes/mix-example.yaml")   # bare mix recipe or a run recipe's `mix:`
    manifest = build_mixture(recipe, Path("runs/mix"))
Modules: recipe (config), filters, text (normalisation, n-gram hashes), minhash (signatures,
LSH clusters), decontamination, sampling (quotas, selection, validation split), ledger
(per-record accounting), exports, diversity, report, builder (the two passes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collectivesft.mix.recipe import MixRecipe, load_recipe, recipe_from_dict


def build_mixture(recipe: MixRecipe, out: Path) -> dict[str, Any]:
    """Build the mixture described by `recipe` into `out`; return the manifest (also out/manifest.json)."""
    from collectivesft.mix.builder import build_mixture as _build

    return _build(recipe, Path(out))


__all__ = ["MixRecipe", "build_mixture", "load_recipe", "recipe_from_dict"]
